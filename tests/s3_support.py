"""A real S3-compatible server for tests: moto's, in a thread of the test process, on 127.0.0.1
and a free port, spoken to over HTTP by boto3 exactly as a deployment speaks to MinIO or AWS."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ACCESS, SECRET = "test-access", "test/secret+key"  # a secret that must be percent-encoded in a URL


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT

    def new_bucket(self) -> str:
        name = f"livequiz-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def client(self) -> Any:  # boto3 ships no types
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)

    def url(self, bucket: str, prefix: str = "") -> str:
        """The `blob_store_url` of a bucket (and folder) on this server."""
        host = self.endpoint.removeprefix("http://")
        path = f"{bucket}/{prefix}" if prefix else bucket
        return f"s3://{ACCESS}:{SECRET.replace('/', '%2F').replace('+', '%2B')}@{host}/{path}?region=us-east-1&secure=0"


@contextmanager
def moto_s3() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
