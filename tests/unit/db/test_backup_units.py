"""The backup pipeline's pure parts: chunked AES-256-GCM, keys, manifests, checksums, progress."""

from __future__ import annotations

import base64
import io
import os

import pytest

from mediz_infra.db.backup import Manifest, Progress, TableSum, compare_sums, parse_key
from mediz_infra.db.backup.crypto import ChunkDecryptor, ChunkEncryptor
from mediz_infra.errors import BackupCorrupt, ConfigError

KEY = bytes(range(32))


def _seal(data: bytes, key: bytes = KEY, chunk: int = 1000, step: int = 333) -> bytes:
    enc = ChunkEncryptor(key, chunk_size=chunk)
    out = b"".join(enc.update(data[i : i + step]) for i in range(0, len(data), step))
    return out + enc.finish()


def _open(sealed: bytes, key: bytes = KEY, step: int = 777) -> bytes:
    dec = ChunkDecryptor(key)
    out = b"".join(dec.update(sealed[i : i + step]) for i in range(0, len(sealed), step))
    dec.finish()
    return out


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 12345])
def test_encryption_round_trip_in_any_slicing(size: int) -> None:
    data = os.urandom(size)
    assert _open(_seal(data)) == data


def test_wrong_key_fails_authentication() -> None:
    with pytest.raises(BackupCorrupt, match="chunk 0 fails authentication: the key is wrong"):
        _open(_seal(b"x" * 5000), key=bytes(32))


def test_altered_byte_fails_authentication() -> None:
    sealed = bytearray(_seal(os.urandom(5000)))
    sealed[len(sealed) // 2] ^= 1
    with pytest.raises(BackupCorrupt, match="fails authentication"):
        _open(bytes(sealed))


def test_truncated_stream_is_refused() -> None:
    sealed = _seal(os.urandom(5000))
    dec = ChunkDecryptor(KEY)
    dec.update(sealed[: len(sealed) // 2])
    with pytest.raises(BackupCorrupt, match="truncated"):
        dec.finish()


def test_a_dropped_whole_chunk_is_refused() -> None:
    sealed = _seal(os.urandom(3500), step=3500)
    frame = 4 + 1000 + 16
    header = 12
    cut = sealed[:header] + sealed[header + frame :]  # chunk 0 removed: nonces no longer match
    with pytest.raises(BackupCorrupt):
        _open(cut)


def test_parse_key_accepts_base64_and_hex_and_hides_the_value() -> None:
    assert parse_key(base64.b64encode(KEY).decode()) == KEY
    assert parse_key(KEY.hex()) == KEY
    with pytest.raises(ConfigError, match="MEDIZ_BACKUP_KEY") as info:
        parse_key("Hunter2Secret")
    assert "Hunter2Secret" not in str(info.value)


def test_manifest_json_round_trip_and_unreadable_manifest() -> None:
    m = Manifest(
        id="20260101T000000Z", database="app", server_version="15.2",
        pg_dump_version="pg_dump (PostgreSQL) 15.2", started_at="a", finished_at="b",
        object="dump.pgc.zst", raw_size=10, stored_size=5, sha256="00",
        compression={"algorithm": "zstd", "level": 3}, encryption=None,
        tables=[TableSum("public.t", 2, "123")],
    )  # fmt: skip
    assert Manifest.from_json(m.to_json()) == m
    with pytest.raises(BackupCorrupt, match="manifest cannot be read"):
        Manifest.from_json(b"{not json")


def test_compare_sums_names_each_difference() -> None:
    want = [TableSum("a", 1, "x"), TableSum("b", 2, "y"), TableSum("c", 0, "0")]
    have = [TableSum("a", 1, "x"), TableSum("b", 2, "z"), TableSum("d", 0, "0")]
    assert compare_sums(want, have) == [
        "c: missing after restore",
        "d: not in the backup",
        "b: 2 rows expected, 2 found; checksum differs",
    ]
    assert compare_sums(want, want) == []


def test_progress_redraws_on_its_clock_and_sums_up() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = Progress("dumped", out, every=1.0, clock=lambda: now[0])
    bar(1024 * 1024)
    assert out.getvalue() == ""  # too soon
    now[0] = 2.0
    bar(1024 * 1024)
    assert out.getvalue() == "dumped: 2.0 MiB at 1.0 MiB/s\n"
    assert bar.summary() == "2.0 MiB in 2.0 s (2.0 MiB at 1.0 MiB/s)"
