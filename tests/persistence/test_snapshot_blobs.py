"""Snapshot pictures in the blob store: deleting an account deletes its pictures from the store
the process installed (here an S3 bucket on moto's server), and a store that cannot delete
fails the deletion so the pictures stay referenced for a retry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from persistence import blobs
from persistence.accounts import hooks
from persistence.blobs import BlobStoreError
from persistence.blobs_s3 import S3BlobStore
from persistence.db import Database
from persistence.exams import account_hooks, attempts, bank, proctoring
from persistence.exams.attempts import Taker
from tests.persistence.test_exams_attempts import started
from tests.persistence.test_exams_bank import new_user
from tests.s3_support import S3Server, moto_s3


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture
def bucket_store(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3BlobStore, str]]:
    bucket = s3_server.new_bucket()
    store = S3BlobStore.from_url(s3_server.url(bucket))
    monkeypatch.setattr(blobs, "_installed", store)  # this test's process store, undone after it
    monkeypatch.setattr(hooks, "on_deleted", [])  # only the exams' hook (others' are process-wide)
    account_hooks.install()
    yield store, bucket


async def _two_takers_with_pictures(database: Database) -> tuple[int, int, int, str, str]:
    exam_id, taker, attempt_id = await started(database, proctoring={"camera": True})
    exam = await bank.get(database, exam_id)
    assert exam is not None
    other = await attempts.start(database, exam, Taker(await new_user(database, "other")), "web")
    other_attempt = other.attempt.id or 0
    mine, theirs = proctoring.snapshot_key(exam_id, attempt_id), proctoring.snapshot_key(exam_id, other_attempt)
    store = blobs.installed()
    for key in (mine, theirs):
        await store.put(key, b"\xff\xd8\xff" + key.encode(), proctoring.SNAPSHOT_TYPE)
    await proctoring.record_snapshot(database, attempt_id, 1, mine)
    await proctoring.record_snapshot(database, other_attempt, 1, theirs)
    return taker.user_id or 0, attempt_id, other_attempt, mine, theirs


async def test_deleting_an_account_deletes_its_pictures_from_the_bucket(
    database: Database, bucket_store: tuple[S3BlobStore, str]
) -> None:
    store, _ = bucket_store
    user_id, attempt_id, other_attempt, mine, theirs = await _two_takers_with_pictures(database)
    assert await proctoring.read_picture(mine) == b"\xff\xd8\xff" + mine.encode()
    async with database.transaction() as session:
        await hooks.run_deleted(session, user_id)
    assert await store.get(mine) is None
    assert await store.get(theirs) is not None
    assert [e.file for e in await proctoring.events_of(database, attempt_id)] == [None]
    assert [e.file for e in await proctoring.events_of(database, other_attempt)] == [theirs]


async def test_a_bucket_that_cannot_delete_fails_the_deletion_and_keeps_the_reference(
    database: Database, bucket_store: tuple[S3BlobStore, str], s3_server: S3Server
) -> None:
    _, bucket = bucket_store
    user_id, attempt_id, _, mine, theirs = await _two_takers_with_pictures(database)
    client = s3_server.client()
    for key in (mine, theirs):
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)
    with pytest.raises(BlobStoreError):
        async with database.transaction() as session:
            await hooks.run_deleted(session, user_id)
    assert [e.file for e in await proctoring.events_of(database, attempt_id)] == [mine]  # rolled back
