"""The cache contract, continued: what values survive storage, on every store.

JSON round trips of rich types, signed pickle, and the values that are served but not stored
(unserialisable, oversized, tampered). Run on the real Redis by
``tests/integration/test_cache_contract.py``, like ``test_contract.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from typing import Any

import pydantic
import pytest

from mediz_infra.cache import SignedPickleSerializer
from tests.unit.cache._contract_helpers import Counter, Factory


async def test_unserialisable_value_is_returned_and_logged(
    make_cache: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    cache, n = make_cache(), Counter()
    sentinel = object()

    @cache(ttl=60)
    async def weird() -> Any:
        n.calls += 1
        return sentinel

    with caplog.at_level(logging.ERROR, logger="mediz_infra.cache"):
        assert await weird() is sentinel
        assert await weird() is sentinel
    assert n.calls == 2
    assert "return value not cached" in caplog.text
    assert weird.statistics.unstorable == 2


async def test_oversized_value_is_not_stored(make_cache: Factory) -> None:
    cache, n = make_cache(max_size=100), Counter()

    @cache(ttl=60)
    async def big() -> str:
        n.calls += 1
        return "x" * 500

    assert await big() == "x" * 500
    assert await big() == "x" * 500
    assert n.calls == 2


@dataclasses.dataclass
class Point:
    x: int
    at: dt.datetime


class Symptom(pydantic.BaseModel):
    id: uuid.UUID
    name: str
    seen: dt.date


async def test_rich_types_round_trip_through_json(make_cache: Factory) -> None:
    cache = make_cache()
    ident = uuid.uuid4()
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

    @cache(ttl=60)
    async def symptoms() -> list[Symptom]:
        return [Symptom(id=ident, name="cough", seen=when.date())]

    @cache(ttl=60)
    async def point() -> Point:
        return Point(1, when)

    @cache(ttl=60)
    async def plain() -> Any:
        return {"id": ident, "at": when}

    for _ in range(2):
        assert await symptoms() == [Symptom(id=ident, name="cough", seen=when.date())]
        assert await point() == Point(1, when)
        assert await plain() == {"id": str(ident), "at": "2024-01-02T03:04:05Z"}


async def test_signed_pickle_round_trip(make_cache: Factory) -> None:
    cache = make_cache(serializer=SignedPickleSerializer("s" * 32))

    @cache(ttl=60)
    async def things() -> set[frozenset[int]]:
        return {frozenset({1, 2})}

    assert await things() == {frozenset({1, 2})}
    assert await things() == {frozenset({1, 2})}


async def test_tampered_signed_value_is_rejected_and_recomputed(
    make_cache: Factory, backend: str
) -> None:
    if backend == "memory":
        pytest.skip("the in-process store keeps no bytes to tamper with")
    cache, n = make_cache(serializer=SignedPickleSerializer("s" * 32)), Counter()

    @cache(ttl=60)
    async def value() -> list[int]:
        n.calls += 1
        return [n.calls]

    assert await value() == [1]
    key = value.key_for((), {})
    assert cache.store is not None
    raw = await cache.store.client.get(key)
    assert isinstance(raw, bytes)
    await cache.store.client.set(key, raw[:-3] + b"bad")
    assert await value() == [2]
    assert value.statistics.rejected >= 1
    assert await value() == [2]
