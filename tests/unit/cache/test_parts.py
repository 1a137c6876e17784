"""Pure parts of the cache: keys, serializers, copies, the LRU, the lock policy, the envelope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import uuid
from typing import Any, Optional

import pytest

from mediz_infra.cache import Cache, CacheValueRejected, JsonSerializer, SignedPickleSerializer
from mediz_infra.cache.entry import pack, unpack
from mediz_infra.cache.keys import MAX_ID, KeyBuilder, normalise
from mediz_infra.cache.local import LocalStore
from mediz_infra.cache.lock import LockPolicy
from mediz_infra.cache.serializers import frozen_copier, plain_json
from mediz_infra.errors import ConfigError


@dataclasses.dataclass
class Box:
    a: int


def test_normalise_is_unambiguous_and_typed() -> None:
    assert normalise(1) != normalise("1")
    assert normalise("a,b") != normalise("a") + "," + normalise("b")
    assert normalise({"b": 1, "a": 2}) == normalise({"a": 2, "b": 1})
    assert normalise(Box(1)) == 'j{"a":1}'
    assert normalise(uuid.UUID(int=1)).startswith('j"00000000')
    with pytest.raises(TypeError, match="key= template"):
        normalise(object())


def test_default_key_is_stable_across_processes() -> None:
    code = (
        "from mediz_infra.cache.keys import KeyBuilder\n"
        "async def f(a, b=2, *rest, **kw): ...\n"
        "print(KeyBuilder(f, 'p:cache:v1', None)((1, 'x', 3), {'z': [1]}))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=".",
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1
    assert runs.pop().strip() == "p:cache:v1:{__main__.f:1,'x',j[3],j{\"z\":[1]}}"


def test_long_ids_are_hashed_and_bad_templates_refused() -> None:
    async def f(text: str) -> None: ...

    key = KeyBuilder(f, "p:cache:v1", None)(("x" * (MAX_ID + 10),), {})
    assert key.endswith("}") and ":sha256:" in key and "xxx" not in key
    with pytest.raises(ConfigError, match="not a parameter"):
        KeyBuilder(f, "p", "item:{nope}")


@pytest.mark.parametrize("template", ["{q}", "{q:>3}", "{q}:{n}", "{{{q}"])
@pytest.mark.parametrize("q", ["", "}", "}x", "a"])
def test_a_value_and_its_lock_share_a_cluster_slot_whatever_the_arguments(
    template: str, q: str
) -> None:
    from redis.crc import key_slot

    async def f(q: str, n: int = 0) -> None: ...

    builder = KeyBuilder(f, "p:cache:v1", template)
    for key in (builder((q, 0), {}), builder((), {"q": q})):
        assert key_slot((key + ":lock").encode()) == key_slot(key.encode()), key


def test_json_serializer_rebuilds_the_annotation() -> None:
    serializer = JsonSerializer(list[Box])
    raw = serializer.dumps([Box(1)])
    assert raw == b'[{"a":1}]'
    assert serializer.loads(raw) == [Box(1)]
    assert JsonSerializer().loads(b'{"a":1}') == {"a": 1}
    with pytest.raises(TypeError):
        serializer.dumps(object())
    with pytest.raises(CacheValueRejected):
        serializer.loads(b"{not json")
    when = dt.datetime(2024, 5, 6, tzinfo=dt.UTC)
    assert JsonSerializer(dt.datetime).loads(JsonSerializer().dumps(when)) == when


@pytest.mark.parametrize(
    ("annotation", "plain"),
    [
        (list[dict[str, Any]], True),
        (dict[str, int], True),
        (str | None, True),
        (Optional[list[float]], True),  # noqa: UP045 (typing.Union, not X | Y)
        (object, True),
        (dict[int, str], False),  # JSON keys are strings: pydantic turns them back into ints
        (tuple[int, int], False),
        (list[dt.date], False),
        (Box, False),
    ],
)
def test_annotations_of_json_types_skip_validation(annotation: Any, plain: bool) -> None:
    assert plain_json(annotation) is plain
    serializer = JsonSerializer(annotation)
    assert (serializer._validate_json is None) is plain


def test_a_plain_json_annotation_reads_back_what_the_function_returned() -> None:
    """An int returned under a float annotation stays an int, as it was without the cache."""
    serializer = JsonSerializer(dict[str, float])
    assert serializer.loads(serializer.dumps({"a": 1, "b": 2.5})) == {"a": 1, "b": 2.5}
    assert type(serializer.loads(b'{"a":1}')["a"]) is int
    with pytest.raises(CacheValueRejected):
        serializer.loads(b"[1,")
    rebuilt = JsonSerializer(dict[int, str]).loads(b'{"1":"x"}')
    assert rebuilt == {1: "x"}


def test_signed_pickle_rejects_tampering_and_other_secrets() -> None:
    one = SignedPickleSerializer(b"k" * 16)
    raw = one.dumps({"a": {1, 2}})
    assert one.loads(raw) == {"a": {1, 2}}
    with pytest.raises(CacheValueRejected, match="bad signature"):
        one.loads(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(CacheValueRejected):
        SignedPickleSerializer(b"z" * 16).loads(raw)
    with pytest.raises(ConfigError):
        SignedPickleSerializer("short")
    assert "kkkk" not in repr(one)


def test_frozen_copier_gives_fresh_copies() -> None:
    text = "immutable"
    assert frozen_copier(text)() is text
    assert frozen_copier((1, ("a",)))() == (1, ("a",))
    nested = {"a": [1, {"b": 2}]}
    copy = frozen_copier(nested)
    first, second = copy(), copy()
    first["a"].append(3)
    assert second == {"a": [1, {"b": 2}]} and first is not second
    box = frozen_copier(Box(1))
    assert box() == Box(1) and box() is not box()
    with pytest.raises(TypeError):
        frozen_copier(lambda: None)


def test_local_store_lru_and_ttl() -> None:
    store = LocalStore(maxsize=2, max_ttl=60)
    entry = unpack(pack(b"1", 0, 0, b""))
    assert entry is not None
    store.put("a", entry, 10)
    store.put("b", entry, 10)
    assert store.peek("a") is entry  # a is now the most recent
    store.put("c", entry, 10)
    assert store.peek("b") is None and len(store) == 2
    store.put("gone", entry, -1)
    assert store.peek("gone") is None
    assert store.delete_prefix("a") == 1
    assert LocalStore.shared("x") is LocalStore.shared("x")


def test_local_store_refuses_a_value_read_before_an_invalidation() -> None:
    store = LocalStore()
    entry = unpack(pack(b"1", 0, 0, b""))
    assert entry is not None
    for invalidate in (lambda: store.delete("k"), lambda: store.delete_prefix("k"), store.clear):
        before = store.generation
        invalidate()  # lands while the value is being read or computed
        assert not store.put_unless_invalidated("k", entry, 10, before)
        assert store.peek("k") is None
        assert store.put_unless_invalidated("k", entry, 10, store.generation)
        assert store.peek("k") is entry


def test_envelope_round_trip_and_foreign_bytes() -> None:
    entry = unpack(pack(b'{"a":|1}', 12.5, 0.25, b"3,0"))
    assert entry is not None
    assert (entry.fresh_until, entry.compute, entry.tags, entry.payload) == (
        12.5, 0.25, b"3,0", b'{"a":|1}'
    )
    assert unpack(b"plain value") is None
    assert unpack(b"m1|x|1|2|3") is None


def test_lock_policy_and_config_errors() -> None:
    delays = LockPolicy(first_poll=0.01, max_poll=0.04).delays()
    assert [delays() for _ in range(4)] == [0.01, 0.02, 0.04, 0.04]
    with pytest.raises(ConfigError):
        LockPolicy(ttl=0)
    with pytest.raises(ConfigError, match=r"lock\.wait"):
        LockPolicy(wait=-1)
    with pytest.raises(ConfigError):
        Cache("memory://", timeout=0)
    with pytest.raises(ConfigError):
        Cache("memory://", prefix="a:b")
    cache = Cache("memory://")
    with pytest.raises(ConfigError):
        cache(ttl=0)
    with pytest.raises(ConfigError):
        cache(ttl=1, tags=["{bad}"])
    with pytest.raises(ConfigError, match="async"):
        cache(ttl=1)(lambda: 1)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="lock"):
        cache(ttl=1, lock="sometimes")  # type: ignore[arg-type]


async def test_invalidate_refuses_foreign_functions() -> None:
    one, two = Cache("memory://"), Cache("memory://")

    @one(ttl=5)
    async def f() -> int:
        return 1

    with pytest.raises(ConfigError):
        await two.invalidate(f)
    assert repr(f).startswith("<cached ")


async def test_caches_on_one_named_memory_store_share_tag_invalidations() -> None:
    name = f"tags-{uuid.uuid4().hex[:8]}"
    one, two = Cache(f"memory://{name}"), Cache(f"memory://{name}")
    other = Cache(f"memory://{name}", prefix="other")
    calls = 0

    @one(ttl=60, tags=["symptoms"])
    async def popular() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await popular() == await popular() == 1
    await other.invalidate_tags("symptoms")  # another prefix: another namespace, as on Redis
    assert await popular() == 1
    await two.invalidate_tags("symptoms")  # same store, same prefix: as on a shared Redis
    assert await popular() == 2
    await two.clear()
    assert await popular() == 3
