"""Metrics: request counts and latency across every process, for a dashboard and Prometheus.

:class:`MetricsMiddleware` times each request (route template, method, status class) into an
in-process :class:`Recorder`, which flushes to a :class:`MetricsStore` about once a second: a
:class:`RedisMetricsStore` shared by all processes, or a :class:`MemoryMetricsStore` for one.
:func:`metrics_routes` serves the data as JSON and Prometheus text, behind the admin guard.
:class:`JobErrorTracker` reports a queue's failed jobs into the same error tracking.
"""

from .dashboard import DashboardPage
from .endpoints import GaugeSource, MetricsEndpoints, metrics_routes
from .histogram import BOUNDS, quantile
from .jobs import JobErrorTracker
from .middleware import MetricsMiddleware
from .prometheus import render as render_prometheus
from .recorder import Recorder
from .routes import OTHER_METHOD, OVERFLOW_ROUTE, UNKNOWN_ROUTE, RouteNamer
from .snapshot import MetricsReader
from .store import (
    MemoryMetricsStore,
    MetricsStore,
    RedisMetricsStore,
    Retention,
    metrics_store,
)
from .tracking import ErrorEvent, fingerprint_of, redact_text

__all__ = [
    # dashboard
    "DashboardPage",
    # endpoints
    "GaugeSource",
    "MetricsEndpoints",
    "metrics_routes",
    # histogram
    "BOUNDS",
    "quantile",
    # jobs
    "JobErrorTracker",
    # middleware
    "MetricsMiddleware",
    # prometheus
    "render_prometheus",
    # recorder
    "Recorder",
    # routes
    "OTHER_METHOD",
    "OVERFLOW_ROUTE",
    "UNKNOWN_ROUTE",
    "RouteNamer",
    # snapshot
    "MetricsReader",
    # tracking
    "ErrorEvent",
    "fingerprint_of",
    "redact_text",
    # store
    "MemoryMetricsStore",
    "MetricsStore",
    "RedisMetricsStore",
    "Retention",
    "metrics_store",
]
