"""S3 for the tests: moto's standalone server on a loopback port, and fresh buckets in it.

Import the fixtures into a test module (``from tests._s3 import s3_endpoint``); aiobotocore
talks to the server over real HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from mediz_infra.backends import S3Store
from mediz_infra.backends.objectstore import ObjectStore, create_object_store
from tests._servers import free_port

__all__ = ["bucket_url", "s3_endpoint", "store_on"]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto server for the module: its ``http://127.0.0.1:<port>`` endpoint."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


async def bucket_url(
    endpoint: str, stem: str, *, credentials: str = "testing:testing", prefix: str = "app"
) -> str:
    """Create a fresh bucket named ``<stem>-<random>``; its ``s3://`` URL (credentials in it)."""
    bucket = f"{stem}-{secrets.token_hex(4)}"
    url = f"s3://{credentials}@{bucket}/{prefix}?endpoint_url={endpoint}&region=us-east-1"
    store = S3Store(url)
    try:
        await (await store._s3()).create_bucket(Bucket=bucket)
    finally:
        await store.aclose()
    return url


async def store_on(
    kind: str, tmp_path: Path, endpoint: str, stem: str, *, credentials: str = "testing:testing"
) -> AsyncIterator[ObjectStore]:
    """A store of ``kind`` (``file`` or ``s3``, a fresh bucket), closed after use."""
    if kind == "file":
        made: ObjectStore = create_object_store(f"file://{tmp_path}/backups")
    else:
        made = S3Store(await bucket_url(endpoint, stem, credentials=credentials))
    yield made
    await made.aclose()
