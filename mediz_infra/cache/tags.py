"""Tag invalidation by versions: one counter per tag, bumped to invalidate.

Two designs were possible. *Tag sets* (a Redis set per tag listing its keys, deleted on
invalidation) need an ``SADD`` on every write and grow with every key ever written under the
tag until something prunes them; invalidating a big tag deletes thousands of keys at once.
*Tag versions* (chosen) keep one small counter per tag, ``{prefix}:cache:tag:{name}``. A value is
stored with the versions current when it was computed; a read fetches the value and its tags'
counters in the same round trip (``MGET``) and treats a value whose versions differ as gone.
Invalidation is one ``INCR`` per tag whatever the number of keys, nothing grows, and the orphaned
values simply expire with their TTL.

A counter key expires :data:`TAG_TTL` after its last bump. If it does, its version reads as 0
again; that is safe because every value is written with a TTL shorter than that (the cache
refuses longer ones), so no value written under an old 0 can still be there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import ConfigError

__all__ = ["TAG_TTL", "check_tags", "join_versions", "tag_key"]

TAG_TTL = 7 * 24 * 3600  # seconds


def tag_key(prefix: str, tag: str) -> str:
    """The Redis key holding one tag's version counter."""
    return f"{prefix}:cache:tag:{{{tag}}}"


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Validate tag names (non-empty, no braces); returns them as a tuple in the given order.

    Raises:
        ConfigError: a tag is empty or contains ``{``/``}``.
    """
    checked = tuple(tags)
    for tag in checked:
        if not tag or "{" in tag or "}" in tag:
            raise ConfigError("tags", f"tag {tag!r} must be non-empty and contain no braces")
    return checked


def join_versions(versions: Sequence[bytes | str | int | None]) -> bytes:
    """The versions of a call's tags as stored in an entry header (missing counts as 0)."""
    return b",".join(
        b"0" if v is None else v if isinstance(v, bytes) else str(v).encode() for v in versions
    )
