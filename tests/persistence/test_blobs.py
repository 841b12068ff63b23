"""The blob store: one behaviour suite run against files under a directory and against a real
S3-compatible server (moto's, over HTTP on 127.0.0.1), then what only one of them has."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gameserver.settings import Settings
from persistence import blobs, blobs_s3
from persistence.blobs import BadKey, BlobStore, BlobStoreError, LocalBlobStore, blob_store_from
from persistence.blobs_s3 import S3BlobStore, S3Location
from tests.s3_support import ACCESS, SECRET, S3Server, moto_s3

BAD_KEYS = ["", "../escape.jpg", "a/../../escape.jpg", "/etc/passwd", "a//b.jpg", "a/", ".hidden", "a/.b/c",
            "a\\b.jpg", "a b.jpg", "ключ.jpg", "a/b\x00.jpg", "x" * (blobs.MAX_KEY_LENGTH + 1)]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "data")
    server: S3Server = request.getfixturevalue("s3_server")
    return blob_store_from(Settings(blob_store_url=server.url(server.new_bucket()), data_dir=tmp_path))


async def test_a_blob_reads_back_with_its_content_type(store: BlobStore) -> None:
    blobs_in = {"snapshots/1/2/face.jpg": (b"\xff\xd8\xff jpeg", "image/jpeg"),
                "ielts/audio/1/2/1.webm": (b"webm bytes", "audio/webm"),
                "misc/no-extension": (b"\x00\x01", "application/x-livequiz")}
    for key, (data, content_type) in blobs_in.items():
        await store.put(key, data, content_type)
    for key, expected in blobs_in.items():
        assert await store.get(key) == expected


async def test_a_put_replaces_the_blob_and_its_type(store: BlobStore) -> None:
    await store.put("a/answer.webm", b"first", "audio/webm")
    await store.put("a/answer.webm", b"second", "video/webm")
    assert await store.get("a/answer.webm") == (b"second", "video/webm")
    await store.put("a/answer.webm", b"third", "audio/ogg")
    assert await store.get("a/answer.webm") == (b"third", "audio/ogg")


async def test_a_missing_key_reads_as_none_and_deletes_quietly(store: BlobStore) -> None:
    assert await store.get("snapshots/9/9/nothing.jpg") is None
    await store.delete("snapshots/9/9/nothing.jpg")
    assert await store.delete_prefix("snapshots/9/") == 0


async def test_delete_removes_that_blob_only(store: BlobStore) -> None:
    await store.put("s/1/a.jpg", b"a", "image/jpeg")
    await store.put("s/1/b.jpg", b"b", "image/jpeg")
    await store.delete("s/1/a.jpg")
    assert await store.get("s/1/a.jpg") is None
    assert await store.get("s/1/b.jpg") == (b"b", "image/jpeg")


async def test_delete_prefix_removes_a_folder_and_nothing_beside_it(store: BlobStore) -> None:
    inside = ["snapshots/1/a.jpg", "snapshots/1/7/b.jpg", "snapshots/1/7/8/c.webm"]
    beside = ["snapshots/12/d.jpg", "snapshots/1.jpg", "other/1/e.jpg"]
    for key in inside + beside:
        await store.put(key, key.encode(), "audio/webm" if key.endswith(".webm") else "image/jpeg")
    assert await store.delete_prefix("snapshots/1/") == len(inside)
    assert [await store.get(key) for key in inside] == [None] * len(inside)
    for key in beside:  # "snapshots/1" is a folder, not a string prefix of "snapshots/12"
        assert await store.get(key) == (key.encode(), "image/jpeg")


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused(store: BlobStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(BadKey):
        await store.put(key, b"x", "image/jpeg")
    with pytest.raises(BadKey):
        await store.get(key)
    with pytest.raises(BadKey):
        await store.delete(key)
    assert not (tmp_path / "escape.jpg").exists()


@pytest.mark.parametrize("folder", ["snapshots", "", "/", "../", "a/../", "/abs/", "a//"])
async def test_delete_prefix_takes_plain_folders_only(store: BlobStore, folder: str) -> None:
    await store.put("snapshots/1/a.jpg", b"a", "image/jpeg")
    with pytest.raises(BadKey):
        await store.delete_prefix(folder)
    assert await store.get("snapshots/1/a.jpg") == (b"a", "image/jpeg")


async def test_a_20_mb_blob_round_trips(store: BlobStore) -> None:
    data = os.urandom(20 * 1024 * 1024)
    await store.put("ielts/audio/1/1/long.webm", data, "audio/webm")
    found = await store.get("ielts/audio/1/1/long.webm")
    assert found is not None and found[1] == "audio/webm" and found[0] == data


# Files under a directory.


async def test_a_local_blob_is_the_file_at_its_key_under_the_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("snapshots/3/4/face.jpg", b"jpeg", "image/jpeg")
    await store.put("ielts/audio/3/4/1.webm", b"webm", "audio/webm")
    assert (tmp_path / "snapshots/3/4/face.jpg").read_bytes() == b"jpeg"
    # The name says image/jpeg, so the JPEG is alone (the layout of pictures from before the
    # store); .webm reads as video/webm by its name, so audio/webm is kept beside it.
    assert sorted(p.name for p in (tmp_path / "snapshots/3/4").iterdir()) == ["face.jpg"]
    assert sorted(p.name for p in (tmp_path / "ielts/audio/3/4").iterdir()) == [".1.webm.type", "1.webm"]


async def test_a_file_from_before_the_store_reads_with_the_type_its_name_says(tmp_path: Path) -> None:
    (tmp_path / "snapshots/1/1").mkdir(parents=True)
    (tmp_path / "snapshots/1/1/old.jpg").write_bytes(b"old")
    (tmp_path / "snapshots/1/1/old").write_bytes(b"nameless")
    store = LocalBlobStore(tmp_path)
    assert await store.get("snapshots/1/1/old.jpg") == (b"old", "image/jpeg")
    assert await store.get("snapshots/1/1/old") == (b"nameless", "application/octet-stream")


async def test_a_failed_local_put_leaves_the_old_blob_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("s/a.jpg", b"old", "image/jpeg")

    def disk_full(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("persistence.blobs.os.replace", disk_full)
    with pytest.raises(BlobStoreError, match="No space left"):
        await store.put("s/a.jpg", b"new", "image/jpeg")
    monkeypatch.undo()
    assert await store.get("s/a.jpg") == (b"old", "image/jpeg")
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["a.jpg"]


async def test_a_local_store_that_cannot_write_raises_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "snapshots").write_bytes(b"a file where a folder should be")
    with pytest.raises(BlobStoreError):
        await LocalBlobStore(tmp_path).put("snapshots/1/a.jpg", b"a", "image/jpeg")


# An S3-compatible server.


async def test_a_url_folder_keeps_every_key_under_it(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    s3_server.client().put_object(Bucket=bucket, Key="someone-else/1/x.jpg", Body=b"theirs")
    store = S3BlobStore.from_url(s3_server.url(bucket, "livequiz/files"))
    await store.put("snapshots/1/a.jpg", b"a", "image/jpeg")
    await store.put("snapshots/2/b.jpg", b"b", "image/jpeg")
    listed = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == [
        "livequiz/files/snapshots/1/a.jpg", "livequiz/files/snapshots/2/b.jpg", "someone-else/1/x.jpg"]
    assert await store.delete_prefix("snapshots/") == 2
    assert [item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]] == [
        "someone-else/1/x.jpg"]


async def test_delete_prefix_deletes_in_batches(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs_s3, "DELETE_BATCH", 2)  # the real batch is 1,000 keys
    store = S3BlobStore.from_url(s3_server.url(s3_server.new_bucket()))
    for n in range(5):
        await store.put(f"f/{n}.jpg", b"x", "image/jpeg")
    assert await store.delete_prefix("f/") == 5
    assert [await store.get(f"f/{n}.jpg") for n in range(5)] == [None] * 5


async def test_a_missing_bucket_or_a_server_that_is_down_is_a_store_error(s3_server: S3Server) -> None:
    missing = S3BlobStore.from_url(s3_server.url("no-such-bucket"))
    with pytest.raises(BlobStoreError, match="NoSuchBucket"):
        await missing.get("a.jpg")  # not "no such key": the store itself is wrong
    with pytest.raises(BlobStoreError):
        await missing.put("a.jpg", b"a", "image/jpeg")
    down = S3BlobStore.from_url(f"s3://{ACCESS}:x@127.0.0.1:9/bucket?secure=0")  # the discard port: refused
    with pytest.raises(BlobStoreError, match=r"put a\.jpg"):
        await down.put("a.jpg", b"a", "image/jpeg")


def test_an_s3_url_names_endpoint_bucket_folder_region_and_credentials() -> None:
    where = S3Location.parse(f"s3://{ACCESS}:test%2Fsecret%2Bkey@minio.local:9000/files/live/quiz/?region=eu-1&secure=0")
    assert where == S3Location(endpoint_url="http://minio.local:9000", bucket="files", prefix="live/quiz/",
                               region="eu-1", access_key=ACCESS, secret_key=SECRET)
    bare = S3Location.parse("s3://s3.example.com/files")
    assert (bare.endpoint_url, bare.prefix, bare.region, bare.access_key) == (
        "https://s3.example.com", "", "us-east-1", None)
    assert SECRET not in repr(S3BlobStore(where))


@pytest.mark.parametrize("url", ["s3://host", "s3://host/", "s3:///bucket", "s3://host/b?secure=yes",
                                 "s3://host/b?regoin=x", "s3://host/b/../x", "http://host/b"])
def test_a_wrong_s3_url_is_refused_at_start(url: str) -> None:
    with pytest.raises(ValueError):
        S3Location.parse(url)


def test_the_setting_picks_the_store(tmp_path: Path, s3_server: S3Server) -> None:
    local = blob_store_from(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path.resolve()
    assert isinstance(blob_store_from(Settings(blob_store_url=s3_server.url("b"))), S3BlobStore)
    with pytest.raises(ValueError):
        blob_store_from(Settings(blob_store_url="ftp://host/b"))
