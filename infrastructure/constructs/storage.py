"""Where picks keeps its state: the resources table, the data bucket and the key encrypting both."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from picks.dal.resources import BY_KIND_INDEX

# Attribute names of the item layout documented in picks.dal.resources.
PARTITION_KEY = "pk"
BY_KIND_PARTITION_KEY = "kind"
BY_KIND_SORT_KEY = "sk"


class Storage(Construct):
    """KMS key, data bucket (+ its access-log bucket) and the DynamoDB resources table.

    Attributes: ``key``, ``bucket``, ``access_log_bucket``, ``table``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)

        self.key = kms.Key(
            self,
            "Key",
            description="picks: encrypts the data bucket and the resources table",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )

        # Server access logs cannot be delivered to a KMS-encrypted bucket, hence SSE-S3 here.
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=removal_policy,
        )

        self.bucket = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,  # fewer KMS calls (and cost) for the many small objects imports write
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="data-bucket/",
            event_bridge_enabled=True,  # triggers (drop/ prefix) are EventBridge rules
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            removal_policy=removal_policy,
        )

        self.table = dynamodb.Table(
            self,
            "Resources",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal_policy,
        )
        self.table.add_global_secondary_index(
            index_name=BY_KIND_INDEX,
            partition_key=dynamodb.Attribute(name=BY_KIND_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=BY_KIND_SORT_KEY, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
