"""Proctoring snapshots kept in an S3-compatible bucket (`LIVEQUIZ_BLOB_STORE_URL`): a real
server process uploads to moto's S3 server on 127.0.0.1 and reads the pictures back from it;
a bucket that goes away answers 503 `storage_unavailable`, never a 500.

The SQL side of snapshots is the same for every store (test_exams_api_proctoring runs it on
SQLite and PostgreSQL); this module runs on SQLite to keep to one server start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_exams_api import account, create
from tests.persistence.exam_bodies import portrait_jpegs
from tests.platform_support import platform_server
from tests.s3_support import S3Server, moto_s3
from tests.sql_support import SqlTarget
from tests.support import ServerProcess

JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlTarget]:
    with SqlTarget("sqlite").prepared(tmp_path_factory.mktemp("sql")) as ready:
        yield ready


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="module")
def s3_platform(
    sqlite_target: SqlTarget, data_dir: Path, redis_url: str, s3_server: S3Server, bucket: str
) -> Iterator[ServerProcess]:
    env = {"LIVEQUIZ_BLOB_STORE_URL": s3_server.url(bucket, "livequiz")}
    with platform_server(sqlite_target, data_dir, redis_url, extra_env=env) as server:
        yield server


async def test_a_snapshot_goes_to_the_bucket_and_reads_back_from_it(
    s3_platform: ServerProcess, sqlite_target: SqlTarget, s3_server: S3Server, bucket: str, data_dir: Path
) -> None:
    owner, taker = await account(sqlite_target, "s3owner"), await account(sqlite_target, "s3taker")
    pictures = portrait_jpegs()
    async with httpx.AsyncClient(base_url=s3_platform.base_url) as http:
        exam = await create(http, owner, proctoring={"camera": True})
        attempt = (await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"},
                                   headers=taker.headers)).json()
        url = f"/api/attempts/{attempt['id']}/snapshots"
        sent = await http.post(url, content=pictures["one"], headers=taker.headers | JPEG)
        assert sent.status_code == 201, sent.text
        assert (sent.json()["face_count"], sent.json()["violation"]) == (1, False)

        stored = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
        assert len(stored) == 1
        key = stored[0]["Key"]
        assert key.startswith(f"livequiz/snapshots/{exam['id']}/{attempt['id']}/") and key.endswith(".jpg")
        kept = s3_server.client().get_object(Bucket=bucket, Key=key)
        assert kept["Body"].read() == pictures["one"] and kept["ContentType"] == "image/jpeg"
        assert not (data_dir / "snapshots").exists()  # nothing on the server's disk

        picture = await http.get(f"{url}/{sent.json()['id']}", headers=owner.headers)
        assert (picture.status_code, picture.content) == (200, pictures["one"])

        s3_server.client().delete_object(Bucket=bucket, Key=key)  # gone from the bucket behind the server's back
        gone = await http.get(f"{url}/{sent.json()['id']}", headers=owner.headers)
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")


async def test_a_bucket_that_went_away_answers_503(
    s3_platform: ServerProcess, sqlite_target: SqlTarget, s3_server: S3Server, bucket: str
) -> None:
    """Last in this module: it deletes the module's bucket."""
    owner, taker = await account(sqlite_target, "s3owner"), await account(sqlite_target, "s3taker")
    pictures = portrait_jpegs()
    async with httpx.AsyncClient(base_url=s3_platform.base_url) as http:
        exam = await create(http, owner, proctoring={"camera": True})
        attempt = (await http.post(f"/api/exams/{exam['id']}/attempts", json={"platform": "web"},
                                   headers=taker.headers)).json()
        url = f"/api/attempts/{attempt['id']}/snapshots"
        kept = await http.post(url, content=pictures["two"], headers=taker.headers | JPEG)
        assert kept.status_code == 201, kept.text
        client = s3_server.client()
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
        refused = await http.post(url, content=pictures["one"], headers=taker.headers | JPEG)
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "storage_unavailable")
        unreadable = await http.get(f"{url}/{kept.json()['id']}", headers=owner.headers)
        assert (unreadable.status_code, unreadable.json()["error"]["code"]) == (503, "storage_unavailable")
        seen = (await http.get(f"/api/attempts/{attempt['id']}", headers=owner.headers)).json()
        assert [e["face_count"] for e in seen["proctoring"]["events"] if e["source"] == "server"] == [2]
