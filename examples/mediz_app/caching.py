"""The reference app's cached queries: popular symptoms and the admin dashboard statistics.

Both are tagged ``symptoms``; recording a symptom (``POST /api/symptoms/report``) invalidates the
tag, so every process recomputes them on the next read. Stale values are served for a while
after their TTL while one process refreshes them in the background, so a popular page never
waits on the aggregate query after the first time. The symptom catalogue (``GET /api/symptoms``)
is cached as a whole HTTP response: a strong ETag, so a browser revalidating gets an empty 304.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mediz_infra import Cache, CachedFunction, HttpCache, Infra
from mediz_infra.problems import problem_response
from mediz_infra.validation import validate

from .reports import remember_position
from .schemas import ReportCreated, ReportIn

__all__ = ["SYMPTOMS_TAG", "Queries", "build_queries", "record_symptom", "dashboard_stats"]

SYMPTOMS_TAG = "symptoms"
LAST_REPORT = "reports:last"

POPULAR_SQL = """
SELECT s.id, s.name, count(*) AS reports, round(avg(r.intensity), 1)::float AS avg_intensity
FROM symptom_reports r
JOIN symptoms s ON s.id = r.symptom_id
WHERE r.reported_at > now() - make_interval(days => $2)
GROUP BY s.id, s.name
ORDER BY reports DESC, s.id
LIMIT $1
"""

CATALOGUE_SQL = "SELECT id, name FROM symptoms ORDER BY id"

STATS_SQL = """
SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM symptoms) AS symptoms,
       (SELECT count(*) FROM symptom_reports) AS reports,
       (SELECT count(*) FROM symptom_reports
         WHERE reported_at > now() - interval '1 day') AS reports_last_day
"""


@dataclass(frozen=True)
class Queries:
    """The app's cached queries and the cache they live in."""

    cache: Cache
    popular: CachedFunction[list[dict[str, Any]]]
    stats: CachedFunction[dict[str, Any]]
    catalogue: Callable[[Request], Awaitable[Response]]


def build_queries(infra: Infra) -> Queries:
    """Cache the heavy queries on the app's Redis (in-process when ``REDIS_URL`` is unset)."""
    cache = Cache(infra.redis or "memory://mediz", prefix="mediz")

    @cache(ttl=60, stale_ttl=300, key="symptoms:popular:{limit}:{days}", tags=[SYMPTOMS_TAG])
    async def popular(limit: int, days: int) -> list[dict[str, Any]]:
        assert infra.db is not None
        async with infra.db.read() as con:
            rows = await con.fetch(POPULAR_SQL, limit, days)
        return [dict(r) for r in rows]

    @cache(ttl=30, stale_ttl=120, key="admin:stats", tags=[SYMPTOMS_TAG])
    async def stats() -> dict[str, Any]:
        assert infra.db is not None
        async with infra.db.read() as con:
            row = await con.fetchrow(STATS_SQL)
        return dict(row) if row is not None else {}

    @HttpCache(cache)(ttl=300, tags=[SYMPTOMS_TAG])
    async def catalogue(request: Request) -> Response:
        """``GET /api/symptoms``: every symptom, id and name (the whole response is cached)."""
        assert infra.db is not None
        async with infra.db.read() as con:
            rows = await con.fetch(CATALOGUE_SQL)
        return JSONResponse({"symptoms": [dict(r) for r in rows]})

    return Queries(cache, popular, stats, catalogue)


def _queries(request: Request) -> Queries:
    queries: Queries = request.app.state.queries
    return queries


async def dashboard_stats(request: Request) -> JSONResponse:
    """``GET /api/admin/stats``: dashboard counts (cached), the last report (a value by key)
    and the cache's hit ratio."""
    queries = _queries(request)
    return JSONResponse({
        "counts": await queries.stats(),
        "last_report": await queries.cache.get(LAST_REPORT),  # None until the first one
        "cache": queries.cache.stats.as_dict(),
    })


@validate(status_code=201)
async def record_symptom(request: Request, body: ReportIn) -> ReportCreated | Response:
    """Record a symptom report (201); then the cached popular symptoms and statistics are
    invalidated by tag in every process. 404 for an unknown user or symptom."""
    infra: Infra = request.app.state.infra
    assert infra.db is not None
    async with infra.db.transaction() as con:
        row = await con.fetchrow(
            "INSERT INTO symptom_reports (user_id, symptom_id, intensity)"
            " SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1)"
            " AND EXISTS (SELECT 1 FROM symptoms WHERE id = $2) RETURNING id",
            body.user_id, body.symptom_id, body.intensity,
        )
    if row is None:
        return problem_response(404, title="Unknown user or symptom")
    cache = _queries(request).cache
    invalidated = await cache.invalidate_tags(SYMPTOMS_TAG)
    last = {"id": row["id"], "user_id": body.user_id, "symptom_id": body.symptom_id}
    await cache.set(LAST_REPORT, last, ttl=86400)  # shown on the dashboard; best effort
    created = ReportCreated(id=row["id"], invalidated=invalidated)
    response = JSONResponse(created.model_dump(), status_code=201)
    # the user's next reads of their own reports see this one, from a replica or the primary
    remember_position(response, await infra.db.position())
    return response
