"""The documentation's code examples are executed, so the docs cannot rot.

Convention: a ```` ```python ```` block in ``docs/**/*.md`` runs as a standalone script when the
line just before its opening fence is an HTML comment (invisible on the rendered site)::

    <!-- test: run -->               pure Python, no services
    <!-- test: run postgres -->      DATABASE_URL is set to the test database
    <!-- test: run postgres redis --> ...and REDIS_URL to the test Redis

Each block runs in a fresh namespace whose ``__name__`` is ``"__docs__"`` (code under an
``if __name__ == "__main__":`` guard, such as starting a server, is skipped), from a temporary
working directory, with every ``DATABASE_*``, ``REDIS_URL``, ``S3_URL`` and ``MEDIZ_*`` variable
removed first, so it sees what a reader's fresh shell would see. Tracebacks point at the Markdown
file and line. Blocks needing a service carry the ``integration`` marker; their URLs come from
the same options as the rest of the suite (``TEST_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``; ``TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/15``).

Every other ``python`` block must still compile (top-level ``await`` allowed), and the pages that
list settings and instruments are checked against the code that defines them.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from mediz_infra import telemetry
from mediz_infra.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
SERVICES = frozenset({"postgres", "redis"})

_MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<words>[^>]*?)\s*-->\s*$")
_FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_CLEARED_ENV = re.compile(r"^(DATABASE_|MEDIZ_|REDIS_URL$|S3_URL$)", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    path: Path
    line: int  # 1-based line of the first code line
    lang: str
    code: str
    marker: str | None  # the words after "test:", when the block is marked

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(DOCS)}:{self.line}"

    @property
    def needs(self) -> frozenset[str]:
        words = (self.marker or "").split()
        return frozenset(words[1:])


def _blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    marker: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        found = _MARKER.match(line)
        if found:
            marker = found["words"]
            i += 1
            continue
        opening = _FENCE_OPEN.match(line)
        if not opening:
            if line.strip():
                marker = None  # a marker applies only to the block right below it
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""
        ):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        out.append(Block(path, i + 2, opening["lang"].lower(), "\n".join(body) + "\n", marker))
        marker = None
        i = j + 1
    return out


ALL_BLOCKS = [b for page in sorted(DOCS.rglob("*.md")) for b in _blocks(page)]
PYTHON = [b for b in ALL_BLOCKS if b.lang in ("python", "py")]
MARKED = [b for b in ALL_BLOCKS if b.marker is not None]
RUNNABLE = [
    pytest.param(b, id=b.id, marks=[pytest.mark.integration] if b.needs else []) for b in MARKED
]


def test_markers_are_well_formed() -> None:
    assert MARKED, f"no runnable examples found under {DOCS}"
    for block in MARKED:
        words = (block.marker or "").split()
        assert block.lang in ("python", "py"), f"{block.id}: a test marker on a non-python block"
        assert words[:1] == ["run"], f"{block.id}: expected '<!-- test: run ... -->'"
        unknown = block.needs - SERVICES
        assert not unknown, f"{block.id}: unknown requirement {sorted(unknown)}; know {SERVICES}"


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in PYTHON])
def test_every_python_block_compiles(block: Block) -> None:
    source = "\n" * (block.line - 1) + block.code
    compile(source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize("block", RUNNABLE)
def test_runnable_block(
    block: Block,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in list(os.environ):
        if _CLEARED_ENV.match(name):
            monkeypatch.delenv(name)
    if "postgres" in block.needs:
        monkeypatch.setenv("DATABASE_URL", str(request.getfixturevalue("database_url")))
    if "redis" in block.needs:
        monkeypatch.setenv("REDIS_URL", str(request.getfixturevalue("redis_url")))
    monkeypatch.chdir(tmp_path)
    # Padded so that a traceback names the Markdown file and the line of the failing statement.
    source = "\n" * (block.line - 1) + block.code
    exec(compile(source, str(block.path), "exec"), {"__name__": "__docs__"})


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return f"MEDIZ_{field.upper()}"


def test_configuration_page_lists_every_setting() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [_env_name(f) for f in Settings.model_fields if f"`{_env_name(f)}`" not in page]
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_postgres_page_names_every_pool_instrument() -> None:
    page = (DOCS / "connections" / "postgres.md").read_text(encoding="utf-8")
    names = [getattr(telemetry, n) for n in telemetry.__all__ if n.startswith("DB_POOL_")]
    missing = [n for n in names if f"`{n}`" not in page]
    assert names and not missing, f"docs/connections/postgres.md does not name {missing}"


def test_resilience_page_names_every_resilience_instrument() -> None:
    text = (DOCS / "resilience.md").read_text()
    names = [getattr(telemetry, n) for n in telemetry.__all__ if n.startswith("RESILIENCE_")]
    assert names
    assert [n for n in names if f"`{n}`" not in text] == []
