"""MemoryRedis commands on sorted sets: ZADD (with its options), ranges by rank and by score."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from redis.exceptions import DataError

from ._memory_codec import encode, parse_bound, parse_score
from ._memory_store import StoreView, ZSetValue

if TYPE_CHECKING:
    from redis.typing import AnyKeyT, EncodableT, KeyT, ZScoreBoundT

__all__ = ["SortedSetCommands"]


class SortedSetCommands(StoreView):
    """ZADD, ZRANGE, ZRANGEBYSCORE, ZREMRANGEBYSCORE, ZREM, ZCARD and ZSCORE."""

    async def zadd(
        self,
        name: KeyT,
        mapping: Mapping[AnyKeyT, EncodableT],
        nx: bool = False,
        xx: bool = False,
        ch: bool = False,
        incr: bool = False,
        gt: bool = False,
        lt: bool = False,
    ) -> int | float | None:
        if nx and xx:
            raise DataError("ZADD allows either 'nx' or 'xx', not both")
        if nx + gt + lt > 1:
            raise DataError("Only one of 'nx', 'lt', or 'gr' may be defined.")
        if incr and len(mapping) != 1:
            raise DataError("ZADD option 'incr' only works with a single element/score pair")
        key = encode(name)
        scores = self._get(key, ZSetValue)
        if scores is None:
            if xx:
                return None if incr else 0
            scores = ZSetValue()
        changed = added = 0
        result: float | None = None
        for member, raw_score in mapping.items():
            field, score = encode(member), parse_score(raw_score)
            old = scores.get(field)
            if incr:
                score += 0.0 if old is None else old
            if (nx and old is not None) or (xx and old is None):
                continue
            if old is not None and ((gt and score <= old) or (lt and score >= old)):
                continue
            result = score
            if old is None:
                added += 1
            elif old != score:
                changed += 1
            scores[field] = score
        if scores:
            self._store.data[key] = scores
        self._written(key, scores)
        if incr:
            return result
        return added + changed if ch else added

    def _sorted(self, name: KeyT) -> list[tuple[bytes, float]]:
        scores: Mapping[bytes, float] = self._get(encode(name), ZSetValue) or {}
        return sorted(scores.items(), key=lambda item: (item[1], item[0]))

    def _zreply(
        self, items: Iterable[tuple[bytes, float]], withscores: bool, cast: Callable[[Any], Any]
    ) -> list[Any]:
        if withscores:
            return [(self._out(m), cast(s)) for m, s in items]
        return [self._out(m) for m, _ in items]

    async def zrange(
        self,
        name: KeyT,
        start: int,
        end: int,
        desc: bool = False,
        withscores: bool = False,
        score_cast_func: type | Callable[..., Any] = float,
    ) -> list[Any]:
        items = self._sorted(name)
        if desc:
            items.reverse()
        size = len(items)
        first = max(start + size if start < 0 else start, 0)
        last = min(end + size if end < 0 else end, size - 1)
        return self._zreply(items[first : last + 1], withscores, score_cast_func)

    async def zrangebyscore(
        self,
        name: KeyT,
        min: ZScoreBoundT,
        max: ZScoreBoundT,
        start: int | None = None,
        num: int | None = None,
        withscores: bool = False,
        score_cast_func: type | Callable[..., Any] = float,
    ) -> list[Any]:
        if (start is None) != (num is None):
            raise DataError("``start`` and ``num`` must both be specified")
        (low, low_open), (high, high_open) = parse_bound(min), parse_bound(max)
        items = [
            (m, s)
            for m, s in self._sorted(name)
            if (s > low if low_open else s >= low) and (s < high if high_open else s <= high)
        ]
        if start is not None and num is not None:
            items = items[start:] if num < 0 else items[start : start + num]
        return self._zreply(items, withscores, score_cast_func)

    async def zremrangebyscore(self, name: KeyT, min: ZScoreBoundT, max: ZScoreBoundT) -> int:
        key = encode(name)
        doomed = await self.zrangebyscore(name, min, max)
        scores = self._get(key, ZSetValue)
        if scores is None:
            return 0
        for member in doomed:
            del scores[encode(member)]
        self._written(key, scores)
        return len(doomed)

    async def zrem(self, name: KeyT, *values: EncodableT) -> int:
        key = encode(name)
        scores = self._get(key, ZSetValue)
        if scores is None:
            return 0
        removed = sum(scores.pop(encode(v), None) is not None for v in values)
        self._written(key, scores)
        return removed

    async def zcard(self, name: KeyT) -> int:
        return len(self._get(encode(name), ZSetValue) or ())

    async def zscore(self, name: KeyT, value: EncodableT) -> float | None:
        scores = self._get(encode(name), ZSetValue)
        return None if scores is None else scores.get(encode(value))
