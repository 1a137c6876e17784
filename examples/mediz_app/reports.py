"""Read your own writes across replicas: a user's reports, right after they made one.

``POST /api/symptoms/report`` writes on the primary, then takes the primary's WAL position
(``pool.position()``) and keeps it in a short-lived cookie scoped to ``/api/users``. A read of
that user's reports passes the cookie's token to ``pool.read(after=...)``: a replica that has
replayed the write serves it, else the primary does. Without replicas the token changes nothing.
The cookie lasts a few seconds, far longer than a healthy replica's lag; after it, reads go to
any replica again.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mediz_infra import ConfigError, Infra

__all__ = ["POSITION_COOKIE", "remember_position", "user_reports"]

POSITION_COOKIE = "mz_pos"
POSITION_PATH = "/api/users"
POSITION_SECONDS = 10

REPORTS_SQL = """
SELECT r.id, r.symptom_id, s.name, r.intensity
FROM symptom_reports r JOIN symptoms s ON s.id = r.symptom_id
WHERE r.user_id = $1
ORDER BY r.id DESC
LIMIT 20
"""


def remember_position(response: Response, token: str) -> None:
    """Keep the write's position for this browser's next reads of its own data."""
    response.set_cookie(
        POSITION_COOKIE, token, max_age=POSITION_SECONDS, path=POSITION_PATH,
        httponly=True, samesite="lax",
    )


async def user_reports(request: Request) -> JSONResponse:
    """``GET /api/users/{user_id}/reports``: the user's 20 latest reports, their own write
    included (the position cookie; a malformed one is ignored)."""
    infra: Infra = request.app.state.infra
    assert infra.db is not None
    user_id: int = request.path_params["user_id"]  # the route's int convertor: digits only
    if not 1 <= user_id <= 2**62:
        raise ConfigError("user_id", f"expected a positive integer, got {user_id}")
    try:
        reading = infra.db.read(after=request.cookies.get(POSITION_COOKIE))
    except ConfigError:  # a tampered or stale-format cookie: an ordinary read
        reading = infra.db.read()
    async with reading as con:
        rows = await con.fetch(REPORTS_SQL, user_id)
    return JSONResponse({"reports": [dict(r) for r in rows]})
