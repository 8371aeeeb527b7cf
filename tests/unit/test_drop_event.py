"""The emulator's S3 "Object Created" event names the write as S3 does (defect 12): the ETag,
the version id of a versioned bucket and a sequencer unique to the write, so the drop import's
name (picks.drop.drop_job_name) is the same for a redelivery and new for the next write."""

from __future__ import annotations

from picks.drop import drop_job_name

from emulator.server import _written_object

PUT = {"REQUEST_METHOD": "PUT", "CONTENT_LENGTH": "42"}


def test_the_event_object_carries_etag_size_and_a_growing_sequencer():
    first = _written_object(PUT, {"etag": '"b1946ac92492d2347c6235b4d2611184"', "x-amz-version-id": "null"})
    second = _written_object(PUT, {"etag": '"b1946ac92492d2347c6235b4d2611184"'})
    assert first["etag"] == "b1946ac92492d2347c6235b4d2611184"
    assert first["size"] == 42
    assert "version-id" not in first  # an unversioned bucket's "null" is not a version
    assert first["sequencer"] < second["sequencer"]
    assert _written_object(PUT, {"etag": '"e"', "x-amz-version-id": "v2"})["version-id"] == "v2"
    assert (
        _written_object({"REQUEST_METHOD": "POST"}, {"etag": '"e-2"'})["reason"] == "CompleteMultipartUpload"
    )


def test_the_job_name_follows_the_write_not_the_delivery():
    key = "drop/group/INTERACTIONS/batch.csv"
    delivered = drop_job_name("bucket", key, sequencer="00A1", etag="e")
    assert drop_job_name("bucket", key, sequencer="00A1", etag="e") == delivered
    assert (
        drop_job_name("bucket", key, sequencer="00A2", etag="e") != delivered
    )  # the same bytes written again
    assert drop_job_name("bucket", key, version_id="v2", sequencer="00A1", etag="e") != delivered
    assert (
        drop_job_name("bucket", "drop/group/INTERACTIONS/other.csv", sequencer="00A1", etag="e") != delivered
    )
    assert len(delivered) <= 63 and delivered.startswith("drop-")
