"""Imports stay light: each component loads only what it uses, the package root loads nothing.

Every check runs in a fresh interpreter (``sys.executable -c``), since this test process has long
imported everything. No timings here: what is asserted is which modules get loaded;
``python -m benchmarks.imports`` measures the time.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mediz_infra

ROOT = Path(__file__).resolve().parents[2]

# Heavy dependencies and components, by what must not drag them in.
HEAVY = ("asyncpg", "pydantic_settings", "mediz_infra.config", "mediz_infra.backends.postgres")
COMPONENTS = (
    "mediz_infra.backends",
    "mediz_infra.cache",
    "mediz_infra.config",
    "mediz_infra.db",
    "mediz_infra.health",
    "mediz_infra.infra",
    "mediz_infra.metrics",
    "mediz_infra.queue",
    "mediz_infra.ratelimit",
    "mediz_infra.resilience",
    "mediz_infra.validation",
)


def loaded_after(code: str, watched: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a fresh interpreter; return which of ``watched`` are in ``sys.modules``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {watched!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    ("module", "other"),
    [
        ("mediz_infra.ratelimit", "mediz_infra.cache"),
        ("mediz_infra.cache", "mediz_infra.ratelimit"),
        ("mediz_infra.resilience", "mediz_infra.cache"),
        ("mediz_infra.resilience", "mediz_infra.ratelimit"),
        ("mediz_infra.validation", "mediz_infra.ratelimit"),
        ("mediz_infra.validation", "mediz_infra.cache"),
        ("mediz_infra.db", "mediz_infra.cache"),
        ("mediz_infra.metrics", "mediz_infra.cache"),
        ("mediz_infra.metrics", "mediz_infra.ratelimit"),
        ("mediz_infra.health", "mediz_infra.metrics"),
        ("mediz_infra.queue", "mediz_infra.ratelimit"),
        ("mediz_infra.queue", "mediz_infra.cache"),
    ],
)
def test_a_component_loads_neither_asyncpg_nor_settings_nor_the_other(
    module: str, other: str
) -> None:
    assert loaded_after(f"import {module}", (*HEAVY, other, "mediz_infra.infra")) == []


def test_the_package_root_loads_no_component_until_a_name_is_used() -> None:
    assert loaded_after("import mediz_infra", (*HEAVY, *COMPONENTS)) == []
    # Touching one name loads its component only.
    touched = loaded_after("import mediz_infra\nmediz_infra.RateLimiter", (*HEAVY, *COMPONENTS))
    assert touched == ["mediz_infra.backends", "mediz_infra.ratelimit"]


def test_the_backends_package_imports_postgres_on_first_use() -> None:
    assert loaded_after("import mediz_infra.backends", ("asyncpg",)) == []
    code = "from mediz_infra.backends import PoolManager"
    assert loaded_after(code, ("asyncpg", "mediz_infra.backends.postgres")) == [
        "asyncpg",
        "mediz_infra.backends.postgres",
    ]


def test_the_backup_command_loads_neither_redis_nor_settings_nor_the_advisor() -> None:
    # `mediz-infra backup run` peaks under 150 MB to S3 partly because of this (about 20 MB):
    # the object stores, the lazy packages above them and the CLI's settings read on first use.
    watched = ("redis", "pydantic_settings", "mediz_infra.config", "mediz_infra.db.advisor",
               "mediz_infra.queue", "mediz_infra.backends.outage", "asyncpg")  # fmt: skip
    code = "import mediz_infra.cli, mediz_infra.db.backup.command, mediz_infra.backends.objectstore"
    assert loaded_after(code, watched) == []
    # the Postgres pool (the backup's lock and snapshot) uses the outage tracker, not redis-py
    assert loaded_after("import mediz_infra.backends.postgres", ("redis",)) == []
    code = "from mediz_infra.backends.outage import BACKEND_ERRORS"
    assert loaded_after(code, ("redis",)) == ["redis"]
    # a name from the lazy packages still loads its own module
    code = "from mediz_infra.db.backup import CronQueue\nfrom mediz_infra.db import IndexAdvisor"
    assert loaded_after(code, ("mediz_infra.db.backup.schedule", "mediz_infra.db.advisor")) == [
        "mediz_infra.db.backup.schedule",
        "mediz_infra.db.advisor",
    ]


def test_every_public_name_resolves_and_star_import_works() -> None:
    code = (
        "import mediz_infra\n"
        "missing = [n for n in mediz_infra.__all__ if getattr(mediz_infra, n, None) is None]\n"
        "assert not missing, missing\n"
        "namespace = {}\n"
        "exec('from mediz_infra import *', namespace)\n"
        "unbound = set(mediz_infra.__all__) - set(namespace)\n"
        "assert not unbound, unbound"
    )
    loaded_after(code, ())  # check=True: an assertion in the child fails the test


def test_names_come_from_their_submodules_and_are_listed_in_dir() -> None:
    from mediz_infra import (
        backends,
        cache,
        config,
        db,
        errors,
        guard,
        health,
        infra,
        metrics,
        problems,
        queue,
        ratelimit,
        resilience,
        validation,
    )

    for name in mediz_infra.__all__:
        if name == "__version__":
            continue
        value = getattr(mediz_infra, name)
        home = {
            ".backends": backends,
            ".cache": cache,
            ".config": config,
            ".db": db,
            ".errors": errors,
            ".guard": guard,
            ".health": health,
            ".infra": infra,
            ".metrics": metrics,
            ".problems": problems,
            ".queue": queue,
            ".ratelimit": ratelimit,
            ".resilience": resilience,
            ".validation": validation,
        }[mediz_infra._LAZY[name]]
        assert value is getattr(home, name), name
    assert set(mediz_infra.__all__) <= set(dir(mediz_infra))
    assert {"PoolManager", "PoolStats", "PgBouncerSessionWarning"} <= set(dir(backends))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mediz_infra.Nope  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        backends.Nope  # noqa: B018


def test_the_lazy_table_all_and_the_type_checking_imports_agree() -> None:
    """``__all__``, the lazy table and the ``if TYPE_CHECKING:`` imports list the same names."""
    public = set(mediz_infra.__all__) - {"__version__"}
    assert set(mediz_infra._LAZY) == public
    tree = ast.parse(Path(mediz_infra.__file__).read_text())
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    typed[alias.name] = "." * stmt.level + (stmt.module or "")
    assert typed == mediz_infra._LAZY


def test_resilience_imports_httpx_only_when_post_json_is_used() -> None:
    assert loaded_after("import mediz_infra.resilience", ("httpx",)) == []
    used = "from mediz_infra.resilience import post_json"
    assert loaded_after(used, ("httpx", "mediz_infra.resilience.http")) == [
        "httpx",
        "mediz_infra.resilience.http",
    ]
