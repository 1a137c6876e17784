"""mediz-infra: production infrastructure for ASGI (Starlette) apps.

Nothing here connects, reads the environment or starts a task at import time.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .backends._pgconn import PgBouncerSessionWarning
from .backends.postgres import PoolManager, PoolStats
from .config import Settings, load_settings
from .errors import (
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    InfraError,
    PoolClosed,
    PoolExhausted,
)
from .infra import Infra

__all__ = [
    "__version__",
    # backends.postgres
    "PgBouncerSessionWarning",
    "PoolManager",
    "PoolStats",
    # config
    "Settings",
    "load_settings",
    # errors
    "BackendTimeout",
    "BackendUnavailable",
    "ConfigError",
    "InfraError",
    "PoolClosed",
    "PoolExhausted",
    # infra
    "Infra",
]
