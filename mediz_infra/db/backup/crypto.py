"""AES-256-GCM in authenticated chunks, so an encrypted backup streams both ways.

Format: a header (``MZB1`` and an 8-byte random nonce prefix), then frames of a 4-byte
big-endian length and one sealed chunk (ciphertext and its 16-byte tag). Chunk ``n`` is sealed
with nonce ``prefix || n`` and, as associated data, the header, ``n`` and a final-chunk flag:
a reordered, dropped, truncated or altered chunk fails authentication, and so does every chunk
under a wrong key. The key is 32 bytes, given base64- or hex-encoded (``MEDIZ_BACKUP_KEY``); a
short fingerprint of it goes into the manifest so a wrong key is named before anything runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct

from ...errors import BackupCorrupt, ConfigError

__all__ = ["ChunkDecryptor", "ChunkEncryptor", "key_fingerprint", "parse_key"]

MAGIC = b"MZB1"
HEADER_SIZE = len(MAGIC) + 8
CHUNK_SIZE = 1 << 20  # plaintext bytes per sealed chunk
_TAG = 16
_LENGTH = struct.Struct(">I")


def parse_key(text: str, *, field_name: str = "MEDIZ_BACKUP_KEY") -> bytes:
    """Decode a 32-byte key from base64 or hex; the error never shows the value."""
    raw = text.strip()
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            key = decode(raw)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ConfigError(
        field_name,
        "expected 32 random bytes, base64- or hex-encoded (make one with "
        "`python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'`)",
    )


def key_fingerprint(key: bytes) -> str:
    """A short public name for a key: enough to tell two keys apart, nothing to recover it."""
    return hashlib.sha256(b"mediz-infra backup key\0" + key).hexdigest()[:16]


def _aead(key: bytes):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _aad(header: bytes, number: int, final: bool) -> bytes:
    return header + struct.pack(">QB", number, final)


class ChunkEncryptor:
    """Feed plaintext with :meth:`update`, end with :meth:`finish`; each returns ciphertext."""

    def __init__(self, key: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        self._aead = _aead(key)
        self._prefix = os.urandom(8)
        self._header = MAGIC + self._prefix
        self._chunk_size = chunk_size
        self._pending = bytearray()
        self._number = 0
        self._started = False

    def _seal(self, plain: bytes, final: bool) -> bytes:
        nonce = self._prefix + struct.pack(">I", self._number)
        sealed: bytes = self._aead.encrypt(nonce, plain, _aad(self._header, self._number, final))
        self._number += 1
        return _LENGTH.pack(len(sealed)) + sealed

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._header

    def update(self, data: bytes) -> bytes:
        out = [self._start()]
        self._pending += data
        # keep at least one byte back: the last chunk must be sealed as final
        while len(self._pending) > self._chunk_size:
            out.append(self._seal(bytes(self._pending[: self._chunk_size]), False))
            del self._pending[: self._chunk_size]
        return b"".join(out)

    def finish(self) -> bytes:
        out = self._start() + self._seal(bytes(self._pending), True)
        self._pending.clear()
        return out


class ChunkDecryptor:
    """Feed ciphertext with :meth:`update`; :meth:`finish` checks the stream was complete."""

    def __init__(self, key: bytes) -> None:
        self._aead = _aead(key)
        self._buffer = bytearray()
        self._header: bytes | None = None
        self._number = 0
        self._done = False

    def update(self, data: bytes) -> bytes:
        self._buffer += data
        out: list[bytes] = []
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                return b""
            header = bytes(self._buffer[:HEADER_SIZE])
            if not header.startswith(MAGIC):
                raise BackupCorrupt("backup: the object is not an encrypted mediz-infra backup")
            self._header = header
            del self._buffer[:HEADER_SIZE]
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length < _TAG or length > CHUNK_SIZE * 64:
                raise BackupCorrupt(f"backup: chunk {self._number} has an impossible length")
            if len(self._buffer) < _LENGTH.size + length:
                break
            sealed = bytes(self._buffer[_LENGTH.size : _LENGTH.size + length])
            del self._buffer[: _LENGTH.size + length]
            out.append(self._open(sealed))
        return b"".join(out)

    def _open(self, sealed: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        if self._done:
            raise BackupCorrupt("backup: data follows the final encrypted chunk")
        assert self._header is not None
        nonce = self._header[len(MAGIC) :] + struct.pack(">I", self._number)
        for flag in (False, True):  # the flag is authenticated: only one of the two opens
            try:
                plain: bytes = self._aead.decrypt(
                    nonce, sealed, _aad(self._header, self._number, flag)
                )
            except InvalidTag:
                continue
            self._done = flag
            self._number += 1
            return plain
        raise BackupCorrupt(
            f"backup: encrypted chunk {self._number} fails authentication: the key is wrong "
            "or the object was altered"
        )

    def finish(self) -> None:
        if self._buffer or not self._done:
            raise BackupCorrupt("backup: the encrypted stream is truncated (no final chunk)")
