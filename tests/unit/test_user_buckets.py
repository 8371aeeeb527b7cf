"""picks.user_buckets: which client a job gets for a bucket, and when a role problem fails the job."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from picks import user_buckets
from picks.errors import InvalidInputException
from picks.settings import Settings

SETTINGS = Settings(
    region="eu-west-1", account="000000000000", table_name="t", bucket_name="own", trusted_buckets=("shared",)
)
ROLE = "arn:aws:iam::000000000000:role/Reader"


class Sts:
    def __init__(self, code: str | None = None, status: int = 400) -> None:
        self.code, self.status, self.calls = code, status, []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.code:
            response = {"Error": {"Code": self.code}, "ResponseMetadata": {"HTTPStatusCode": self.status}}
            raise ClientError(response, "AssumeRole")
        return {"Credentials": {"AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t"}}


def _services(sts: Sts) -> Any:
    return SimpleNamespace(
        settings=SETTINGS,
        s3="own-client",
        sts=sts,
        s3_with_credentials=lambda credentials, region: ("as-role", credentials, region),
    )


def test_trusted_buckets_use_picks_own_client_and_others_the_role():
    sts = Sts()
    services = _services(sts)

    def client(bucket: str, role: str | None) -> Any:
        return user_buckets.s3_client(
            services, bucket, role_arn=role, session="picks-import-j", region="eu-west-1"
        )

    assert client("own", ROLE) == "own-client"
    assert client("shared", None) == "own-client"
    as_role = client("theirs", ROLE)
    assert as_role[0] == "as-role" and as_role[2] == "eu-west-1"
    assert sts.calls == [{"RoleArn": ROLE, "RoleSessionName": "picks-import-j"}]


def test_no_role_or_a_refused_role_is_a_job_failure_naming_both():
    with pytest.raises(user_buckets.BucketAccessError, match="theirs"):
        user_buckets.s3_client(_services(Sts()), "theirs", role_arn=None, session="s", region="eu-west-1")
    with pytest.raises(user_buckets.BucketAccessError, match="Reader.*theirs.*AccessDenied"):
        user_buckets.s3_client(
            _services(Sts("AccessDenied", 403)), "theirs", role_arn=ROLE, session="s", region="eu-west-1"
        )


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("InternalFailure", 500)])
def test_sts_outages_are_retried_not_blamed_on_the_role(code, status):
    with pytest.raises(ClientError):
        user_buckets.s3_client(
            _services(Sts(code, status)), "theirs", role_arn=ROLE, session="s", region="eu-west-1"
        )


def test_session_names_fit_sts():
    name = user_buckets.session_name("import", "j" * 80)
    assert name.startswith("picks-import-j") and len(name) == 64


@pytest.mark.parametrize("role", ["arn:aws:iam::000000000000:roleX", "arn:aws:iam::000000000000:user/x"])
def test_create_time_check_wants_a_role(role):
    with pytest.raises(InvalidInputException, match="roleArn"):
        user_buckets.check_access(SETTINGS, "theirs", role)
    user_buckets.check_access(SETTINGS, "theirs", ROLE)
    user_buckets.check_access(SETTINGS, "own", None)
