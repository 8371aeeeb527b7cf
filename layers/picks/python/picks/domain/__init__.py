"""The domain layer: resource records, their private state, and the status values they move through."""
