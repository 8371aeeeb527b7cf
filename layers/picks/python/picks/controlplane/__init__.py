"""Control-plane operations: one module per resource family, registered by operation name."""
