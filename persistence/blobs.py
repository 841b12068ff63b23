"""One store for the platform's files (proctoring snapshots, speaking audio): a key → bytes map.

A key is a relative, slash-separated name such as `snapshots/12/345/9f3c….jpg`: segments of
letters, digits, `.`, `_` and `-`, none empty or starting with a dot (so no `..`, no hidden
files, no absolute paths), at most `MAX_KEY_LENGTH` characters. `validate_key` refuses any
other with `BadKey`; both stores check every key, so a key built from request data can never
reach outside the store.

- `LocalBlobStore(root)`: the file `root/key`. A put writes a temporary file beside it, flushes
  it to disk and renames it over the key, so a reader sees the old bytes or the new ones, never
  half a file. The content type is kept in a hidden `.NAME.type` file beside the blob only when
  the key's extension does not already say it (Python's built-in table, not the machine's), so
  `snapshots/…/x.jpg` is just the JPEG: the layout of files written before this store existed.
- `S3BlobStore` (persistence/blobs_s3.py): a bucket of an S3-compatible server, by URL.

`blob_store_from(settings)` picks one: an empty URL is the local store under the data
directory, `s3://…` the S3 one. The process's store is `install`ed at start-up (gameserver/app.py)
so account hooks, which get only a SQL session, can delete files (`installed()`).

`delete_prefix(folder)` removes every blob under a folder (`snapshots/12/`); it takes folders
only (a trailing `/`), so `snapshots/1/` never reaches `snapshots/12/` as a bare string prefix
would in S3. Failures of the storage itself (a full disk, an unreachable server) raise
`BlobStoreError`, for callers to answer 503 rather than crash.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Protocol

MAX_KEY_LENGTH = 512
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Python's own extension table, not /etc/mime.types: a blob written on one machine reads back
# with the same type on another.
_BUILTIN_TYPES = mimetypes.MimeTypes()


class BadKey(ValueError):
    """A key (or folder) that is not a plain relative name."""


class BlobStoreError(RuntimeError):
    """The storage failed (disk, network, credentials): the request may be retried later."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> tuple[bytes, str] | None:
        """The blob's bytes and content type, or None if there is no such key."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error."""
        ...

    async def delete_prefix(self, folder: str) -> int:
        """Remove every blob under `folder` (which ends with `/`); returns how many."""
        ...


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise BadKey(f"a key is 1-{MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT.fullmatch(segment) for segment in key.split("/")):
        raise BadKey(f"not a plain relative key: {key!r}")
    return key


def validate_folder(folder: str) -> str:
    if not isinstance(folder, str) or not folder.endswith("/"):
        raise BadKey(f"a folder ends with '/': {folder!r}")
    validate_key(folder[:-1])
    return folder


def guessed_type(key: str) -> str | None:
    return _BUILTIN_TYPES.guess_type(key, strict=False)[0]


class LocalBlobStore:
    """Blobs as files under `root` (the data directory by default)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path_of(self, key: str) -> Path:
        return self.root / validate_key(key)

    @staticmethod
    def _type_file(path: Path) -> Path:
        return path.with_name(f".{path.name}.type")  # a dot-name: never a valid key itself

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_of(key)
        try:
            await asyncio.to_thread(self._write, path, data, content_type)
        except OSError as error:
            raise BlobStoreError(f"could not store {key}: {error}") from error

    def _write(self, path: Path, data: bytes, content_type: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        type_file = self._type_file(path)
        if content_type != guessed_type(path.name):
            _write_atomically(type_file, content_type.encode())
        else:
            type_file.unlink(missing_ok=True)  # an overwrite whose type the name now says
        _write_atomically(path, data)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        path = self.path_of(key)
        try:
            return await asyncio.to_thread(self._read, path)
        except OSError as error:
            raise BlobStoreError(f"could not read {key}: {error}") from error

    def _read(self, path: Path) -> tuple[bytes, str] | None:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        try:
            content_type = self._type_file(path).read_text().strip()
        except FileNotFoundError:
            content_type = guessed_type(path.name) or DEFAULT_CONTENT_TYPE
        return data, content_type

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        try:
            await asyncio.to_thread(self._remove, path)
        except OSError as error:
            raise BlobStoreError(f"could not delete {key}: {error}") from error

    def _remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._type_file(path).unlink(missing_ok=True)

    async def delete_prefix(self, folder: str) -> int:
        path = self.root / validate_folder(folder)
        try:
            return await asyncio.to_thread(self._remove_tree, path)
        except OSError as error:
            raise BlobStoreError(f"could not delete {folder}: {error}") from error

    @staticmethod
    def _remove_tree(path: Path) -> int:
        if not path.is_dir():
            return 0
        count = sum(1 for file in path.rglob("*") if file.is_file() and not file.name.startswith("."))
        shutil.rmtree(path)
        return count


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class BlobSettings(Protocol):
    """What `blob_store_from` reads of gameserver.settings.Settings (persistence imports no gameserver)."""

    @property
    def blob_store_url(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...


def blob_store_from(settings: BlobSettings) -> BlobStore:
    """The store `settings.blob_store_url` names: empty → files under `settings.data_dir`."""
    url = settings.blob_store_url
    if not url:
        return LocalBlobStore(settings.data_dir)
    if url.startswith("s3://"):
        try:
            from persistence.blobs_s3 import S3BlobStore
        except ImportError as error:  # boto3 is the optional `s3` extra: the default install stays small
            raise ValueError("blob_store_url is s3://… but boto3 is missing: pip install 'livequiz[s3]'") from error
        return S3BlobStore.from_url(url)
    raise ValueError("blob_store_url is empty (files under the data directory) or s3://…")


_installed: BlobStore | None = None


def install(store: BlobStore) -> BlobStore:
    """Make `store` the process's blob store (for code that is handed no context, as account hooks)."""
    global _installed
    _installed = store
    return store


def installed() -> BlobStore:
    if _installed is None:
        raise BlobStoreError("no blob store was installed in this process")
    return _installed
