"""The queue monitor's JSON API on real Redis: counts, throughput, failures, every action,
the admin guard (401/403), 404s and garbage input, all as problem+json and never a 500."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from mediz_infra.backends.redis import create_redis
from mediz_infra.errors import ConfigError
from mediz_infra.queue import Queue, Worker, monitor_routes
from tests._servers import free_port

pytestmark = pytest.mark.integration

TOKEN = "q" * 24
AUTH = {"authorization": f"Bearer {TOKEN}"}
API = "/admin/queues/api"


@pytest.fixture
async def queue(redis_url: str) -> AsyncIterator[Queue]:
    client = create_redis(redis_url)
    queue = Queue(f"mon{uuid.uuid4().hex[:8]}", client, prefix="test")

    @queue.task(name="ok")
    async def ok(n: int) -> int:
        return n

    @queue.task(name="boom", retries=0)
    async def boom() -> None:
        raise RuntimeError("provider said no to redis://u:pw-in-url@push.example/0")

    yield queue
    await client.flushdb()
    await client.aclose()


def client_for(*queues: Queue) -> httpx.AsyncClient:
    app = Starlette(routes=monitor_routes(list(queues), token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_counts_throughput_failures_and_workers(queue: Queue) -> None:
    await queue.tasks["ok"].enqueue_many([(n,) for n in range(4)])
    dead = await queue.tasks["boom"].enqueue()
    await queue.tasks["ok"].enqueue(9, _delay=300)
    await Worker(queue).run_burst()
    worker = Worker(queue, presence_ttl=5)
    await worker.presence.beat()
    async with client_for(queue) as http:
        overview = (await http.get(API, headers=AUTH)).json()
        (row,) = overview["queues"]
        assert row["name"] == queue.name and row["paused"] is False
        assert [w["id"] for w in overview["workers"]] == [worker.id]

        response = await http.get(f"{API}/{queue.name}?minutes=5&limit=10", headers=AUTH)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        data = response.json()
    c = data["counts"]
    assert (c["waiting"], c["active"], c["delayed"], c["dead"]) == (0, 0, 1, 1)
    assert (c["completed"], c["failed"], c["complete"]) == (4, 1, 4)
    series = data["throughput"]["series"]
    assert len(series) == 5 and sum(m["completed"] for m in series) == 4
    assert sum(m["failed"] for m in series) == 1
    assert data["throughput"]["completed_per_minute"] == 0.8
    (failure,) = data["failures"]
    assert failure["id"] == dead.id and failure["outcome"] == "dead"
    assert "provider said no" in failure["error"] and "pw-in-url" not in failure["error"]
    (letter,) = data["dead"]
    assert letter["id"] == dead.id and "pw-in-url" not in (letter["error"] + letter["traceback"])
    assert [w["id"] for w in data["workers"]] == [worker.id]


async def test_actions_retry_delete_pause_resume(queue: Queue) -> None:
    dead = await queue.tasks["boom"].enqueue(_job_id="dead/1")  # a slash in the id is fine
    waiting = await queue.tasks["ok"].enqueue(1)
    await Worker(queue).run_burst()
    await queue.tasks["ok"].enqueue(2, _job_id="w2")
    async with client_for(queue) as http:
        job = f"{API}/{queue.name}/jobs"
        assert (await http.get(f"{job}/dead/1", headers=AUTH)).json()["status"] == "dead"
        # only a dead job is retried: the waiting one is a 409
        conflict = await http.post(f"{job}/w2/retry", headers=AUTH)
        assert conflict.status_code == 409 and "waiting" in conflict.json()["detail"]
        retried = await http.post(f"{job}/dead/1/retry", headers=AUTH)
        assert retried.json() == {"id": "dead/1", "status": "waiting"}
        assert await dead.status() == "waiting"

        deleted = await http.post(f"{job}/{waiting.id}/delete", headers=AUTH)
        assert deleted.json() == {"id": waiting.id, "deleted": True}
        assert await waiting.status() is None
        gone = await http.post(f"{job}/{waiting.id}/delete", headers=AUTH)
        assert gone.status_code == 404

        paused = await http.post(f"{API}/{queue.name}/pause", headers=AUTH)
        assert paused.json() == {"name": queue.name, "paused": True}
        assert (await http.get(API, headers=AUTH)).json()["queues"][0]["paused"] is True
        assert await Worker(queue).run_burst() is not None and await dead.status() == "waiting"
        resumed = await http.post(f"{API}/{queue.name}/resume", headers=AUTH)
        assert resumed.json()["paused"] is False
    await Worker(queue).run_burst()
    assert await dead.status() == "dead"  # ran again (and failed again)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/queues"),
        ("GET", API),
        ("GET", f"{API}/nosuchqueue"),
        ("POST", f"{API}/nosuchqueue/pause"),
        ("POST", f"{API}/nosuchqueue/jobs/x/delete"),
    ],
)
async def test_every_route_is_behind_the_admin_guard(queue: Queue, method: str, path: str) -> None:
    async with client_for(queue) as http:
        anonymous = await http.request(method, path)
        wrong = await http.request(method, path, headers={"authorization": "Bearer " + "x" * 24})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"]
    assert wrong.status_code == 403
    for response in (anonymous, wrong):
        assert response.headers["content-type"] == "application/problem+json"
        assert "nosuchqueue" not in response.text and TOKEN not in response.text


async def test_unknown_queue_or_job_is_404_and_garbage_is_422(queue: Queue) -> None:
    async with client_for(queue) as http:
        cases = {
            f"{API}/nosuchqueue": 404,
            f"{API}/{queue.name}/jobs/nosuchjob": 404,
            f"{API}/{queue.name}?minutes=abc": 422,
            f"{API}/{queue.name}?minutes=0": 422,
            f"{API}/{queue.name}?minutes=100000000000000000000": 422,
            f"{API}/{queue.name}?limit=-1": 422,
            f"{API}/{queue.name}?limit=%F0%9F%92%A5": 422,
            f"{API}/{queue.name}/jobs/{'x' * 201}": 422,
            f"{API}/%00%ff": 404,
        }
        for path, status in cases.items():
            response = await http.get(path, headers=AUTH)
            assert response.status_code == status, path
            assert response.headers["content-type"] == "application/problem+json"
            if status == 422:
                (param,) = response.json()["invalid_params"]
                assert param["name"] in ("minutes", "limit", "job_id"), path
        posts = {
            f"{API}/nosuchqueue/pause": 404,
            f"{API}/{queue.name}/jobs/nosuchjob/retry": 404,
            f"{API}/{queue.name}/jobs/nosuchjob/delete": 404,
        }
        for path, status in posts.items():
            response = await http.post(path, headers=AUTH, content=b"\x00garbage{")
            assert response.status_code == status, path
        assert (await http.put(f"{API}/{queue.name}/pause", headers=AUTH)).status_code == 405
        assert (await http.get(f"{API}/{queue.name}/pause", headers=AUTH)).status_code == 405


async def test_actions_from_another_site_are_refused(queue: Queue) -> None:
    async with client_for(queue) as http:
        pause = f"{API}/{queue.name}/pause"
        evil = await http.post(pause, headers={**AUTH, "origin": "https://evil.example"})
        site = await http.post(pause, headers={**AUTH, "sec-fetch-site": "cross-site"})
        near = await http.post(pause, headers={**AUTH, "sec-fetch-site": "same-site"})
        null = await http.post(pause, headers={**AUTH, "origin": "null"})
        same = await http.post(pause, headers={**AUTH, "origin": "http://testserver"})
        behind_proxy = {"origin": "https://admin.example", "x-forwarded-host": "admin.example"}
        proxied = await http.post(pause, headers={**AUTH, **behind_proxy})
        fetched = await http.post(
            pause, headers={**AUTH, "origin": "https://x.example", "sec-fetch-site": "same-origin"}
        )
    assert evil.status_code == site.status_code == near.status_code == null.status_code == 403
    assert evil.headers["content-type"] == "application/problem+json"
    assert same.status_code == proxied.status_code == fetched.status_code == 200


async def test_a_broker_that_is_down_is_a_503_not_a_500() -> None:
    client = create_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    queue = Queue("down", client)
    try:
        async with client_for(queue) as http:
            for path in (API, f"{API}/down"):
                response = await http.get(path, headers=AUTH)
                assert response.status_code == 503 and response.headers["retry-after"]
            post = await http.post(f"{API}/down/pause", headers=AUTH)
            assert post.status_code == 503
    finally:
        await client.aclose()


def test_settings_are_checked_naming_the_field() -> None:
    queue = Queue("a", "memory://")
    with pytest.raises(ConfigError, match="queues"):
        monitor_routes([], token=TOKEN)
    with pytest.raises(ConfigError, match="queues"):
        monitor_routes([queue, Queue("a", "memory://")], token=TOKEN)
    with pytest.raises(ConfigError, match="path"):
        monitor_routes([queue], token=TOKEN, path="admin")
    with pytest.raises(ConfigError, match="interval"):
        monitor_routes([queue], token=TOKEN, interval=0.01)


async def test_two_queues_are_listed(queue: Queue) -> None:
    other = Queue(f"o{uuid.uuid4().hex[:6]}", "memory://")
    async with client_for(queue, other) as http:
        names = [q["name"] for q in (await http.get(API, headers=AUTH)).json()["queues"]]
        assert names == [queue.name, other.name]
        page = await http.get("/admin/queues", headers=AUTH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-api="{API}"' in page.text and "<script>" in page.text
    await asyncio.sleep(0)
