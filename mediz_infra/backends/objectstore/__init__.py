"""Object stores: ``s3://bucket/prefix`` (aiobotocore) and ``file:///path``, one contract.

:func:`create_object_store` turns a URL into an :class:`ObjectStore`; the backup pipeline
(:mod:`mediz_infra.db.backup`) writes through it whatever the destination.
"""

from __future__ import annotations

from typing import Any

from ..._urls import parse_url
from ...errors import ConfigError
from .base import ObjectInfo, ObjectStore
from .file import FileStore
from .s3 import S3Store

__all__ = [
    "OBJECTSTORE_SCHEMES",
    "FileStore",
    "ObjectInfo",
    "ObjectStore",
    "S3Store",
    "create_object_store",
]

OBJECTSTORE_SCHEMES = ("s3", "file")


def create_object_store(url: str, **options: Any) -> S3Store | FileStore:
    """The store ``url`` names; ``options`` go to :class:`S3Store` (``part_size``...).

    Raises:
        ConfigError: the scheme is neither ``s3://`` nor ``file://``, or an option is wrong.
    """
    scheme = parse_url(url).scheme
    if scheme == "s3":
        return S3Store(url, **options)
    if scheme == "file":
        if options:
            raise ConfigError("options", f"file:// takes no options, got {sorted(options)}")
        return FileStore(url)
    known = ", ".join(f"{s}://" for s in OBJECTSTORE_SCHEMES)
    raise ConfigError("url", f"unknown object store scheme {scheme + '://'!r}; known: {known}")
