"""Data access: DynamoDB and S3 adapters that take injected boto3 clients."""
