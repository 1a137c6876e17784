"""The manifest: what a backup holds and how to check it, written after everything else."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import BackupCorrupt

__all__ = ["Manifest", "TableSum"]

FORMAT = 1


@dataclass(frozen=True, slots=True)
class TableSum:
    """A table's row count and content checksum, as taken in the dump's snapshot."""

    table: str  # "schema"."name", quoted as Postgres quotes it
    rows: int
    checksum: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything known about one complete backup. ``object`` is relative to the backup's id."""

    id: str
    database: str
    server_version: str
    pg_dump_version: str
    started_at: str  # ISO 8601, UTC
    finished_at: str
    object: str
    raw_size: int  # bytes pg_dump wrote
    stored_size: int  # bytes stored (compressed, perhaps encrypted)
    sha256: str  # of the stored object
    compression: dict[str, Any]
    encryption: dict[str, Any] | None
    tables: list[TableSum] = field(default_factory=list)
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            raw["tables"] = [TableSum(**t) for t in raw.get("tables", [])]
            return cls(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupCorrupt(f"backup: the manifest cannot be read: {exc}") from None

    def checksums(self) -> dict[str, tuple[int, str]]:
        return {t.table: (t.rows, t.checksum) for t in self.tables}
