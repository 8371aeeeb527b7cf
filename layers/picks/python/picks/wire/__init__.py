"""Wire compatibility: botocore's service models drive validation and serialization."""
