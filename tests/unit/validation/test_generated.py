"""hypothesis-generated bodies: whatever is sent, the answer is a 2xx or a 4xx problem, never a
500, and what is accepted is exactly what the model accepts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mediz_infra.problems import PROBLEM_JSON

from ._app import JSON, ChatIn, build_app, client

APP = build_app()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "message": st.text(max_size=250) | st.integers(),
        "mood": st.sampled_from(["good", "bad", "ugly", 1]),
        "count": st.integers(min_value=-(10**25), max_value=10**25) | st.text(max_size=5),
        "since": st.dates().map(str) | st.text(max_size=12),
    },
)
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def post(content: bytes, headers: dict[str, str] | None = None) -> Any:
    async def go() -> Any:
        async with client(APP) as c:
            return await c.post("/chat", content=content, headers=headers or JSON)

    return asyncio.run(go())


def model_accepts(document: Any) -> bool:
    try:
        ChatIn.model_validate_json(json.dumps(document), strict=True)
    except ValidationError:
        return False
    return True


@fast
@given(chat_like)
def test_chat_bodies_are_accepted_exactly_when_the_model_accepts_them(document: Any) -> None:
    r = post(json.dumps(document).encode())
    if model_accepts(document) and all(
        not isinstance(v, int) or abs(v) < 10**20 for v in document.values()
    ):
        assert r.status_code == 200, r.text
        assert r.json()["reply"] == document["message"].upper()
    else:
        assert r.status_code in (400, 422), r.text
        assert r.headers["content-type"] == PROBLEM_JSON


@fast
@given(json_values)
def test_any_json_document_is_answered_without_a_server_error(document: Any) -> None:
    r = post(json.dumps(document).encode())
    assert r.status_code in (200, 400, 422)
    assert r.status_code == 200 or r.headers["content-type"] == PROBLEM_JSON


@fast
@given(st.binary(max_size=300))
def test_any_bytes_are_answered_without_a_server_error(content: bytes) -> None:
    r = post(content)
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code != 200:
        assert r.headers["content-type"] == PROBLEM_JSON
        assert len(r.content) < 1_000
