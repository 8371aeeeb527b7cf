"""What every SageMaker training job of ``picks.workflows.declaration`` runs with: the training source
archive, the execution role and the container image. The Step Functions task is built in ``workflows.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct
from picks.workflows.declaration import TRAINING_INPUT_PREFIX, TRAINING_OUTPUT_PREFIX

from infrastructure import bundling, constants

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    from infrastructure.options import EcrImage


class TrainingJobs(Construct):
    """The script-mode set-up shared by every ``TrainingStep``.

    SageMaker's framework container downloads ``source`` (``sourcedir.tar.gz``: ``train.py``, the
    ``training`` package, the ``picks`` library and ``requirements.txt``), pip-installs the
    requirements and runs ``train.py``; the hyperparameters below are how script mode is told so.

    The execution ``role`` is all a job, and the code in its container, may do: read its channel under
    ``training-input/`` and write its model under ``training-output/`` (not the rest of the data
    bucket), read the source archive object, use the data key, write to SageMaker's log group and pull
    the image from its repository. The Step Functions task adds what the output and volume
    encryption need (``kms:Encrypt``/``GenerateDataKey*``, ``kms:CreateGrant``).

    Attributes: ``role``, ``source`` (the archive's ``s3_assets.Asset``), ``image_uri``,
    ``repository_arn``, ``output_uri``, ``key``, ``hyperparameters``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        image: EcrImage,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = key
        self.source = bundling.training_source_asset(self, "Source")
        self.image_uri, self.repository_arn = image.render(
            account=stack.account, region=stack.region, url_suffix=stack.url_suffix, partition=stack.partition
        )
        # Fixed rather than taken from the request: a job can only ever write where its role may.
        self.output_uri = f"s3://{bucket.bucket_name}/{TRAINING_OUTPUT_PREFIX}"
        # Plain strings: the training toolkit reads each value as JSON and falls back to the raw string.
        self.hyperparameters: dict[str, str] = {
            "sagemaker_program": constants.TRAINING_ENTRY_POINT,
            "sagemaker_submit_directory": self.source.s3_object_url,
            "sagemaker_region": stack.region,  # where the toolkit downloads the archive from
        }

        self.role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="picks SageMaker training jobs",
        )
        self._allow_data_access(bucket)
        self._allow_logs_metrics_and_image(stack)

    def _allow_data_access(self, bucket: s3.IBucket) -> None:
        role = self.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTrainingInput",
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{TRAINING_INPUT_PREFIX}*")],
            )
        )
        # S3Prefix channels are listed before they are copied. ListBucket is granted on the bucket without
        # an s3:prefix condition, since SageMaker's own checks of the location may list without one; it
        # reveals key names, never object contents.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListTrainingInput", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteTrainingOutput",
                # Model files are uploaded in parts when large; an interrupted upload is aborted.
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{TRAINING_OUTPUT_PREFIX}*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadSourceArchive",
                actions=["s3:GetObject"],
                resources=[self.source.bucket.arn_for_objects(self.source.s3_object_key)],
            )
        )
        # The channel's objects are SSE-KMS with the data key; the volume grant needs the key's metadata.
        self.key.grant_decrypt(role)
        self.key.grant(role, "kms:DescribeKey")

    def _allow_logs_metrics_and_image(self, stack: Stack) -> None:
        role = self.role
        log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=constants.TRAINING_LOG_GROUP,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingJobLogs",
                # SageMaker creates the group on the account's first job and one stream per job.
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                resources=[log_group, f"{log_group}:*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource type; the namespace condition scopes it
                conditions={"StringEquals": {"cloudwatch:namespace": constants.TRAINING_METRICS_NAMESPACE}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EcrLogin",
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],  # the registry login token is account-wide by design
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PullTrainingImage",
                actions=[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                resources=[self.repository_arn],
            )
        )
