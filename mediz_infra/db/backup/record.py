"""A verify's verdict, ``<id>/<id>.verify.json`` beside the backup's manifest.

Written by ``backup verify`` (:mod:`.verify`), read by ``backup list`` and the freshness health
check (:mod:`.freshness`). Its own module so that the health check reads it without the
restore machinery::

    {"backup_id": str, "ok": bool, "verified_at": ISO-8601 UTC str, "duration_s": float,
     "mismatches": [str, ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from ...errors import BackupCorrupt

__all__ = ["RECORD_SUFFIX", "VerifyRecord", "record_key"]

RECORD_SUFFIX = ".verify.json"


def record_key(backup_id: str) -> str:
    """The key of a backup's verify record, beside its manifest."""
    return f"{backup_id}/{backup_id}{RECORD_SUFFIX}"


@dataclass(frozen=True, slots=True)
class VerifyRecord:
    """The outcome of one verify; ``mismatches`` is empty when ``ok``."""

    backup_id: str
    ok: bool
    verified_at: datetime  # UTC
    duration_s: float
    mismatches: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "backup_id": self.backup_id,
                "ok": self.ok,
                "verified_at": self.verified_at.isoformat(),
                "duration_s": round(self.duration_s, 3),
                "mismatches": self.mismatches,
            },
            indent=2,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> VerifyRecord:
        try:
            raw = json.loads(data)
            return cls(
                backup_id=str(raw["backup_id"]),
                ok=raw["ok"] is True,  # anything but JSON true is not a pass
                verified_at=datetime.fromisoformat(raw["verified_at"]),
                duration_s=float(raw["duration_s"]),
                mismatches=[str(m) for m in raw["mismatches"]],
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupCorrupt(f"backup: a verify record cannot be read: {exc}") from None
