"""SQL identifiers as the advisor prints them: quoted only where Postgres needs it."""

from __future__ import annotations

import re

__all__ = ["index_name", "qualified", "quote_ident"]

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def quote_ident(name: str) -> str:
    """``created_at`` stays as it is; ``Order Date`` becomes ``"Order Date"``."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    """``schema.table``, each part quoted where needed."""
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def index_name(table: str, columns: tuple[str, ...], partial: bool) -> str:
    """A name for a suggested index: ``orders_customer_id_created_at_idx`` (at most 63 bytes,
    Postgres's limit; a partial index ends in ``_part_idx``)."""
    words = [re.sub(r"\W+", "_", c.removesuffix(" DESC")).strip("_").lower() for c in columns]
    suffix = "_part_idx" if partial else "_idx"
    stem = re.sub(r"\W+", "_", table).lower() + "_" + "_".join(words)
    return stem[: 63 - len(suffix)].rstrip("_") + suffix
