"""The domain layer: resource records, their private state, the status values they move through, and the
lookups the control plane, workflows, runtime and events API share."""
