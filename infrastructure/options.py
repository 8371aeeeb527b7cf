"""Deployment options read from CDK context, and the context every synth starts from."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infrastructure import constants

if TYPE_CHECKING:
    from collections.abc import Mapping

    from constructs import IConstruct

_TRUE = {"true", "1", "yes", "on"}
# S3 bucket naming rules (general purpose buckets): 3-63 of a-z 0-9 . -, starting and ending alphanumeric.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# CloudFormation pseudo parameters an image URI may contain, written as in Fn::Sub.
_ACCOUNT, _REGION, _URL_SUFFIX = "${AWS::AccountId}", "${AWS::Region}", "${AWS::URLSuffix}"
# <account>.dkr.ecr[-fips].<region>.<domain>/<repository>(:<tag> | @sha256:<digest>)
_ECR_IMAGE = re.compile(
    r"(?P<account>\d{12}|" + re.escape(_ACCOUNT) + r")\.dkr\.ecr(?:-fips)?"
    r"\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d|" + re.escape(_REGION) + r")"
    r"\.(?P<domain>amazonaws\.com(?:\.cn)?|" + re.escape(_URL_SUFFIX) + r")"
    r"/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?P<reference>:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})"
)


@dataclass(frozen=True)
class EcrImage:
    """A container image in an ECR registry, the only kind SageMaker training jobs can pull.

    ``uri`` may name the stack's account, region and domain as ``${AWS::AccountId}``,
    ``${AWS::Region}`` and ``${AWS::URLSuffix}``; ``render`` substitutes them, so one context value
    serves every region whose DLC registry has the same account.
    """

    uri: str
    account: str
    region: str
    repository: str

    @classmethod
    def parse(cls, uri: str) -> EcrImage:
        match = _ECR_IMAGE.fullmatch(uri)
        if match is None:
            raise ValueError(
                f"{constants.CONTEXT_TRAINING_IMAGE} must be an ECR image URI "
                f"(<account>.dkr.ecr.<region>.<domain>/<repository>:<tag>), got {uri!r}"
            )
        return cls(uri=uri, account=match["account"], region=match["region"], repository=match["repository"])

    def render(self, *, account: str, region: str, url_suffix: str, partition: str) -> tuple[str, str]:
        """``(image URI, repository ARN)`` with the pseudo parameters replaced by the given values."""

        def substitute(text: str) -> str:
            return text.replace(_ACCOUNT, account).replace(_REGION, region).replace(_URL_SUFFIX, url_suffix)

        arn = f"arn:{partition}:ecr:{self.region}:{self.account}:repository/{self.repository}"
        return substitute(self.uri), substitute(arn)


def base_context(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's ``context`` block updated with ``overrides``.

    The CDK CLI feeds cdk.json's context (feature flags included) to the app, but ``python app.py``
    and the tests do not go through the CLI; starting every ``App`` from this keeps all three
    synthesizing the same template. Context given on the CLI still wins over these defaults.
    """
    document = json.loads(constants.CDK_JSON.read_text(encoding="utf-8"))
    return {**document.get("context", {}), **(overrides or {})}


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)


@dataclass(frozen=True)
class DeploymentOptions:
    """What differs between synths of the same stack (``-c key=value`` on the CDK CLI)."""

    # True: do not run pip; the dependencies layer is a placeholder. For tests and template review,
    # never for a deployment (the stack carries a warning saying so).
    offline_dependencies: bool = False
    log_level: str = constants.DEFAULT_LOG_LEVEL
    # The SageMaker script-mode container every training job runs (an ECR image URI, see EcrImage).
    training_image: str = constants.DEFAULT_TRAINING_IMAGE
    # Buckets the functions read import sources from with picks' own role (see picks.user_buckets);
    # every other bucket only as the roleArn of the job.
    trusted_buckets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.log_level not in _LOG_LEVELS:
            raise ValueError(
                f"{constants.CONTEXT_LOG_LEVEL} must be one of {_LOG_LEVELS}, got {self.log_level!r}"
            )
        EcrImage.parse(self.training_image)  # fail the synth now rather than the first training job
        for bucket in self.trusted_buckets:
            if not _BUCKET_NAME.fullmatch(bucket):
                raise ValueError(
                    f"{constants.CONTEXT_TRUSTED_BUCKETS} must list S3 bucket names, got {bucket!r}"
                )

    @property
    def training_ecr_image(self) -> EcrImage:
        return EcrImage.parse(self.training_image)

    @classmethod
    def from_context(cls, scope: IConstruct) -> DeploymentOptions:
        node = scope.node
        level = node.try_get_context(constants.CONTEXT_LOG_LEVEL) or constants.DEFAULT_LOG_LEVEL
        image = node.try_get_context(constants.CONTEXT_TRAINING_IMAGE) or constants.DEFAULT_TRAINING_IMAGE
        return cls(
            offline_dependencies=_flag(node.try_get_context(constants.CONTEXT_OFFLINE_DEPENDENCIES)),
            log_level=str(level).upper(),
            training_image=str(image).strip(),
            trusted_buckets=_names(node.try_get_context(constants.CONTEXT_TRUSTED_BUCKETS)),
        )


def _names(value: Any) -> tuple[str, ...]:
    """A context list: ``a,b`` on the command line, or a JSON list in cdk.json."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
