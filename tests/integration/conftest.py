"""Fixtures shared by the integration tests: ``s3_endpoint`` (moto on loopback, per module)."""

from tests._s3 import s3_endpoint

__all__ = ["s3_endpoint"]
