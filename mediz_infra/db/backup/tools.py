"""pg_dump and pg_restore: find them, check their version against the server's, run them."""

from __future__ import annotations

import asyncio
import os
import re
import shutil

from ..._urls import parse_url
from ...errors import BackupError

__all__ = ["ClientTool", "libpq_target"]


class ClientTool:
    """A Postgres client binary (``pg_dump``, ``pg_restore``) and its major version."""

    def __init__(self, name: str, path: str | None = None) -> None:
        self.name = name
        found = path or shutil.which(name)
        if not found:
            raise BackupError(
                f"{name} not found on PATH: install the Postgres client (Debian: "
                "apt-get install postgresql-client) or pass its path"
            )
        self.path = found

    async def version(self) -> tuple[int, str]:
        """``(major, full version text)`` as the binary reports it."""
        proc = await asyncio.create_subprocess_exec(
            self.path, "--version", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        text = out.decode().strip()
        match = re.search(r"(\d+)(?:\.(\d+))?", text)
        if proc.returncode != 0 or not match:
            raise BackupError(f"{self.path} --version failed: {text!r}")
        return int(match.group(1)), text

    async def require_at_least(self, server_major: int, server_version: str, what: str) -> str:
        """Refuse a binary older than the server (or the dump): it cannot read what is newer."""
        major, text = await self.version()
        if major < server_major:
            raise BackupError(
                f"{self.name} {major} cannot {what} {server_version}: install "
                f"postgresql-client-{server_major} (or newer) and put its {self.name} first on PATH"
            )
        return text


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without its password, and an environment holding the password.

    The password goes in ``PGPASSWORD`` so it shows in no process list.
    """
    parsed = parse_url(url, field_name="database_url", schemes=("postgresql", "postgres"))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = parsed.password
    raw = parsed.raw
    if parsed.password is not None:
        scheme, _, rest = raw.partition("://")
        userinfo, _, hosts = rest.partition("@")
        raw = f"{scheme}://{userinfo.partition(':')[0]}@{hosts}"
    return raw, env
