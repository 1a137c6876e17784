"""Embedded Postgres for development: a private cluster started when DATABASE_URL is unset.

Layout: :mod:`.handle` holds the public API (:func:`start_embedded_postgres`, the
:class:`EmbeddedPostgres` handle), the choice of account and data directory and this process's
registry of servers; :mod:`.binaries` finds the Postgres binaries an account can run;
:mod:`.server` runs initdb, ``pg_ctl`` and the shutdown and keeps the cluster's state and lock
files.
"""

from .handle import (
    DEFAULT_DATA_DIR,
    EmbeddedPostgres,
    start_embedded_postgres,
    start_embedded_postgres_sync,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "EmbeddedPostgres",
    "start_embedded_postgres",
    "start_embedded_postgres_sync",
]
