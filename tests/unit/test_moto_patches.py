"""The emulator's S3 fast paths behave as S3 does: content, ETag, copies that outlive their source."""

from __future__ import annotations

import hashlib
import io

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from emulator import moto_patches

BUCKET = "picks-patch-test"


@pytest.fixture()
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    monkeypatch.setenv("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", "1024")  # so a 2 MB body counts as large
    moto_patches.install()
    with mock_aws():
        client = boto3.client(
            "s3", region_name="us-east-1", config=Config(s3={"payload_signing_enabled": False})
        )
        client.create_bucket(Bucket=BUCKET)
        yield client


def _body(seed: int) -> bytes:
    return hashlib.sha256(str(seed).encode()).digest() * (65536 + seed)  # a bit over 2 MB


def _get(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_large_bodies_from_files_and_bytes_come_back_whole(s3, tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(_body(1))
    with path.open("rb") as handle:
        put = s3.put_object(Bucket=BUCKET, Key="from-file", Body=handle)
    s3.put_object(Bucket=BUCKET, Key="from-bytes", Body=_body(2))
    assert _get(s3, "from-file") == _body(1)
    assert _get(s3, "from-bytes") == _body(2)
    assert put["ETag"] == f'"{hashlib.md5(_body(1)).hexdigest()}"'  # noqa: S324 - S3's ETag is an MD5
    head = s3.head_object(Bucket=BUCKET, Key="from-file")
    assert head["ContentLength"] == len(_body(1))


def test_a_copy_keeps_its_content_when_the_source_changes_or_goes(s3):
    s3.put_object(Bucket=BUCKET, Key="source", Body=_body(3))
    s3.copy_object(Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "source"})
    s3.put_object(Bucket=BUCKET, Key="source", Body=b"small now")
    assert _get(s3, "source") == b"small now"
    assert _get(s3, "copy") == _body(3)
    s3.delete_object(Bucket=BUCKET, Key="source")
    assert _get(s3, "copy") == _body(3)
    assert s3.head_object(Bucket=BUCKET, Key="copy")["ETag"] == f'"{hashlib.md5(_body(3)).hexdigest()}"'  # noqa: S324


def test_ranged_reads_and_small_objects_are_unchanged(s3):
    s3.put_object(Bucket=BUCKET, Key="large", Body=io.BytesIO(_body(4)))
    part = s3.get_object(Bucket=BUCKET, Key="large", Range="bytes=10-19")["Body"].read()
    assert part == _body(4)[10:20]
    s3.put_object(Bucket=BUCKET, Key="tiny", Body=b"{}")
    assert _get(s3, "tiny") == b"{}"


@pytest.mark.parametrize("algorithm", [None, "CRC32", "SHA256"])
def test_multipart_completion_gives_moto_s_own_object_etag_and_checksum(s3, algorithm):
    from moto.s3.exceptions import EntityTooSmall, InvalidPart
    from moto.s3.models import FakeMultipart

    parts = [_body(5) * 3, _body(6) * 3, b"tail"]  # S3's 5 MB minimum for all but the last part
    metadata = {} if algorithm is None else {"x-amz-checksum-algorithm": algorithm}
    upload = FakeMultipart("key", metadata, "123456789012", "us-east-1")
    listing = [(number, upload.set_part(number, part).etag) for number, part in enumerate(parts, start=1)]
    ours = moto_patches._complete_multipart(upload, iter(listing))
    assert ours == moto_patches._original_complete(upload, iter(listing))
    assert ours[0] == b"".join(parts)
    with pytest.raises(InvalidPart):
        moto_patches._complete_multipart(upload, iter([(1, listing[1][1])]))
    with pytest.raises(EntityTooSmall):
        moto_patches._complete_multipart(upload, iter([listing[2], listing[0]]))


def test_a_streamed_multipart_upload_comes_back_whole(s3):
    from boto3.s3.transfer import TransferConfig

    body = b"".join(_body(seed) for seed in range(7, 13))  # ~13 MB: three parts of 5 MB
    config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3.upload_fileobj(io.BytesIO(body), BUCKET, "streamed", Config=config)
    assert _get(s3, "streamed") == body
    assert s3.head_object(Bucket=BUCKET, Key="streamed")["ETag"].endswith('-3"')
