"""Quotas are configurable from the environment, not hard-coded surprises."""

from __future__ import annotations

from picks.settings import Settings, credential_scope, region_of_request


def test_quotas_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PICKS_TABLE", "t")
    monkeypatch.setenv("PICKS_BUCKET", "b")
    monkeypatch.setenv("PICKS_MAX_FILTERS_PER_GROUP", "60")
    monkeypatch.setenv("PICKS_MAX_FIELDS_PER_FILTER", "25")
    settings = Settings.from_environment()
    assert settings.max_filters_per_group == 60
    assert settings.max_fields_per_filter == 25
    assert settings.max_campaigns_per_group == 5  # untouched quotas keep Personalize's defaults


def test_trusted_buckets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PICKS_TABLE", "t")
    monkeypatch.setenv("PICKS_BUCKET", "own")
    monkeypatch.setenv("PICKS_TRUSTED_BUCKETS", '["shared-imports"]')
    settings = Settings.from_environment()
    assert settings.trusts("own") and settings.trusts("shared-imports")
    assert not settings.trusts("someone-elses")


def test_the_region_of_a_request_is_its_sigv4_scope():
    signed = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240601/eu-west-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )
    assert region_of_request(signed) == "eu-west-1"
    assert region_of_request(signed.replace("execute-api", "personalize")) == "eu-west-1"
    assert region_of_request(None) is None
    assert region_of_request("Bearer token") is None


def test_one_credential_scope_parser_for_headers_and_presigned_queries():
    header = (
        "AWS4-HMAC-SHA256 Credential=AKID/20240601/eu-west-1/personalize/aws4_request, "
        "SignedHeaders=host, Signature=abc"
    )
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKID/20240601/us-west-2/s3/aws4_request&X-Amz-Date=1"
    )
    assert credential_scope(header) == ("eu-west-1", "personalize")
    assert credential_scope(query) == ("us-west-2", "s3")
    assert credential_scope("AWS AKID:signature") is None
    # A scope naming no usable region leaves the request in the deployed region.
    assert region_of_request(header.replace("eu-west-1", "EU WEST")) is None
