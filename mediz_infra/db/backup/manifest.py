"""The manifest: what a backup holds and how to check it, written after everything else."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import BackupCorrupt

__all__ = ["COPY_BLAKE2B", "SERVER_HASH", "SERVER_MD5", "Manifest", "TableSum"]

FORMAT = 2  # 2: checksum_method, checksum_session and the tables' columns (1 had none)
# checksum methods (see .tables): the server's md5 of each row's text (manifests of format 1,
# and the fallback), or BLAKE2b of each line of pg_dump's COPY text
SERVER_MD5 = "server-md5-row-text"
COPY_BLAKE2B = "blake2b64-copy-text"
SERVER_HASH = "server-hash-record"


@dataclass(frozen=True, slots=True)
class TableSum:
    """A table's row count and content checksum, as taken in the dump's snapshot."""

    table: str  # "schema"."name", quoted as Postgres quotes it
    rows: int
    checksum: str
    columns: list[str] | None = None  # COPY_BLAKE2B: the columns pg_dump copied, unquoted


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
    checksum_method: str = SERVER_MD5  # what a manifest without the field used
    # COPY_BLAKE2B: the session settings pg_dump's COPY text depends on beyond its own fixed
    # ones (TimeZone, bytea_output, lc_monetary, client_encoding), for a verify to use
    checksum_session: dict[str, str] = field(default_factory=dict)

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
