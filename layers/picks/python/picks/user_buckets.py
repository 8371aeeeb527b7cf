"""S3 clients for users' buckets, acting with the caller's authority rather than picks' own.

Like Amazon Personalize, a job that reads or writes a user's bucket (dataset imports now; batch
inference and export jobs later) names the IAM role to do it as (``roleArn``), and picks assumes that
role (STS AssumeRole) for the job.  picks' own role may only touch its own bucket and the buckets the
operator chose to trust at deploy time (``Settings.trusted_buckets``), so a caller cannot make picks
read an object that the caller's role could not read itself (the confused deputy).

Every job that touches a user's bucket goes through ``check_access`` when it is created and
``s3_client`` when it runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from picks.errors import InvalidInputException, excerpt

if TYPE_CHECKING:
    from picks.services import Services
    from picks.settings import Settings

# What STS AssumeRole accepts: an IAM role (not a user, not "roleX", which the model's pattern allows).
_ROLE_ARN = re.compile(r"arn:[a-z\d-]+:iam::\d{12}:role/[\w+=,.@/-]+")
# RoleSessionName: 2-64 characters of [\w+=,.@-]; CloudTrail in the role's account shows it.
_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")
MAX_SESSION_NAME = 64
_TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable"}
)


class BucketAccessError(Exception):
    """picks could not act as the job's role, or the role may not do what the job needs."""


def check_access(settings: Settings, bucket: str, role_arn: str | None, field: str = "roleArn") -> None:
    """At create time: InvalidInputException unless the job can reach ``bucket`` at run time."""
    if role_arn is not None and not _ROLE_ARN.fullmatch(role_arn):
        raise InvalidInputException(
            f"{field}: '{excerpt(role_arn)}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
        )
    if role_arn is None and not settings.trusts(bucket):
        raise InvalidInputException(
            f"{field}: required to use s3://{bucket}: picks reads and writes a bucket other than its own "
            "only as the role you name, which must trust picks (docs/deploy.md, Import sources)."
        )


def session_name(purpose: str, job_name: str) -> str:
    """``picks-<purpose>-<job name>``: who acted as the role, and for which job."""
    return _SESSION_NAME_CHARS.sub("-", f"picks-{purpose}-{job_name}")[:MAX_SESSION_NAME]


def s3_client(
    services: Services, bucket: str, *, role_arn: str | None, session: str, region: str, writes: bool = False
) -> Any:
    """An S3 client that may act on ``bucket`` for one job.

    Trusted buckets: picks' own client (to write: only picks' own bucket; the operator trusts other
    buckets for reading).  Any other bucket: a client with the temporary credentials of
    ``role_arn`` (AssumeRole, session name ``session``).  Raises ``BucketAccessError`` if there is no
    role to act as or AssumeRole is refused; the job then fails without touching any data.
    """
    if bucket == services.settings.bucket_name or (not writes and services.settings.trusts(bucket)):
        return services.s3
    if role_arn is None:
        raise BucketAccessError(
            f"s3://{bucket} is not a bucket picks trusts, and the job names no roleArn to read it as."
        )
    if services.sts is None:
        raise BucketAccessError(
            f"cannot assume roleArn {role_arn} to use s3://{bucket}: picks has no STS client configured."
        )
    try:
        credentials = services.sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Error")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        if code in _TRANSIENT_CODES or status >= 500:
            raise  # the step's retries (or its Catch) handle an STS outage; the role may be fine
        raise BucketAccessError(
            f"could not assume roleArn {role_arn} to use s3://{bucket} ({code}): the role's trust policy "
            "must allow picks' workflow-steps role to assume it (docs/deploy.md, Import sources)."
        ) from None
    return services.s3_with_credentials(credentials, region)
