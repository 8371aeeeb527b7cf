"""The domain layer: what the control plane, workflows, runtime and events API share about resources."""
