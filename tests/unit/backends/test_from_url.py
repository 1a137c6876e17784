"""backends.from_url: one URL, one factory per kind, nothing connected."""

from __future__ import annotations

import pytest

import mediz_infra
from mediz_infra import ConfigError, PoolManager, from_url


def test_postgres_url_gives_an_unstarted_pool() -> None:
    pool = from_url("postgresql://app:pw@127.0.0.1:1/app", max_size=3)
    assert isinstance(pool, PoolManager)
    assert (pool.max_size, pool.stats().size) == (3, 0)


def test_memory_url_is_no_redis_and_says_where_it_belongs() -> None:
    with pytest.raises(ConfigError, match=r"Cache\(\"memory://\"\)"):
        from_url("memory://from-url-test")


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: postgresql://.*redis://"):
        from_url("mongodb://u:secret@h/db")


def test_public_names_are_exported() -> None:
    for name in mediz_infra.__all__:
        assert hasattr(mediz_infra, name), name
