"""The reference app end to end: its own database on the real Postgres, seeded, queried."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from examples.mediz_app import create_app
from mediz_infra import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def app_database(database_url: str) -> Iterator[str]:
    name = f"mediz_app_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        con = await asyncpg.connect(database_url)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, embedded_postgres=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client


async def test_popular_symptoms_through_the_pool(app_database: str) -> None:
    settings = Settings(database_url=app_database, redis_url="memory://app-test")
    async with serve(settings) as client:
        response = await client.get("/api/symptoms/popular", params={"limit": 5})
        assert response.status_code == 200
        symptoms = response.json()["symptoms"]
        assert len(symptoms) == 5
        counts = [s["reports"] for s in symptoms]
        assert counts == sorted(counts, reverse=True)
        assert symptoms[0]["name"] == "headache"  # the seed skews reports towards low ids

        bad = await client.get("/api/symptoms/popular", params={"limit": "many"})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        assert bad.json()["invalid_params"][0]["name"] == "limit"

        status = (await client.get("/api/admin/infra")).json()
        assert status["db"]["status"] == "ok"
        assert status["db"]["size"] >= 1

    # a second start finds the schema and data and does not seed again
    async with serve(settings) as client:
        everything = {"limit": 100, "days": 365}
        body = (await client.get("/api/symptoms/popular", params=everything)).json()
        assert sum(s["reports"] for s in body["symptoms"]) == 40000
