"""One contract for the object stores: memory (the fake), a local directory and S3 on moto."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from gateway.store.objects import LocalObjects, MemoryObjects, ObjectStore, S3Objects, check_key

BUCKET = "stream.wecare.digital"
PREFIX = "base-wecare-digital/reports/"


@pytest.fixture(params=["memory", "local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "memory":
        yield MemoryObjects()
    elif request.param == "local":
        yield LocalObjects(tmp_path / "reports")
    else:
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket=BUCKET)
            yield S3Objects(client, BUCKET, PREFIX)


def test_a_stored_object_reads_back_whole_and_a_second_put_replaces_it(objects: ObjectStore) -> None:
    body = b"contactId,status\n" + b"ct_1,sent\n" * 50_000
    objects.put_file("job_1/report.csv", io.BytesIO(body), content_type="text/csv")
    assert objects.get("job_1/report.csv") == body
    objects.put_file("job_1/report.csv", io.BytesIO(b"new"), content_type="text/csv")
    assert objects.get("job_1/report.csv") == b"new"


def test_a_missing_object_is_none(objects: ObjectStore) -> None:
    assert objects.get("job_none/report.csv") is None


@pytest.mark.parametrize("key", ["../escape", "/abs/path", "a//b", "a/../b", "", "a/./b", "job 1/x"])
def test_no_key_can_leave_its_root(objects: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="not a safe object key"):
        objects.put_file(key, io.BytesIO(b"x"), content_type="text/plain")
    with pytest.raises(ValueError, match="not a safe object key"):
        objects.get(key)


def test_s3_keys_live_under_the_report_prefix() -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        store = S3Objects(client, BUCKET, PREFIX)
        store.put_file("job_9/summary.json", io.BytesIO(b"{}"), content_type="application/json")
        head = client.head_object(Bucket=BUCKET, Key=PREFIX + "job_9/summary.json")
        assert head["ContentType"] == "application/json"
        assert store.location("job_9/summary.json") == f"s3://{BUCKET}/{PREFIX}job_9/summary.json"


def test_check_key_accepts_plain_segments() -> None:
    assert check_key("job_abc123/report.csv") == "job_abc123/report.csv"
