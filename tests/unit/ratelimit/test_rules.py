"""Limit strings and rules: parsed at start-up, malformed ones named in a ConfigError."""

from __future__ import annotations

import pytest

from mediz_infra.errors import ConfigError
from mediz_infra.ratelimit import RateLimitMiddleware, Rule, parse_limits, rate_limit
from tests.unit.ratelimit._asgi import ok_app


def test_parse_several_limits() -> None:
    parsed = parse_limits("20/minute;200/day")
    assert [(p.amount, p.window) for p in parsed] == [(20, 60), (200, 86400)]
    assert [p.window for p in parse_limits("5 per 2 hours, 1/second")] == [7200, 1]
    assert parse_limits("3/minute")[0].item.get_expiry() == 60  # and limits agrees


@pytest.mark.parametrize(
    "text",
    ["ten per minute", "0/second", "5", "1/0 seconds", "", "5/fortnight", "٣/minute", "1_0/minute"],
)
def test_malformed_limit_names_the_rule(text: str) -> None:
    with pytest.raises(ConfigError, match="rule 'chat'"):
        Rule("chat", text)


def test_malformed_limit_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match="'ten per minute'"):
        RateLimitMiddleware(ok_app, rules=[Rule("ok", "1/second"), Rule("chat", "ten per minute")])
    with pytest.raises(ConfigError, match="rule 'default'"):
        RateLimitMiddleware(ok_app, default="0/second")
    with pytest.raises(ConfigError, match="'ten per minute'"):

        @rate_limit("ten per minute")
        async def endpoint(request: object) -> None: ...


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strategy": "leaky"},
        {"cost": 0},
        {"on_backend_error": "maybe"},
        {"burst": 5, "strategy": "fixed-window"},
        {"paths": ["api/x"]},
    ],
)
def test_bad_rule_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="rule 'r'"):
        Rule("r", "1/second", **kwargs)  # type: ignore[arg-type]


def test_duplicate_rule_names() -> None:
    with pytest.raises(ConfigError, match="unique"):
        RateLimitMiddleware(ok_app, rules=[Rule("a", "1/second"), Rule("a", "2/second")])


def test_matching() -> None:
    admin = Rule("admin", "1/second", paths=["/api/admin/*"])
    chat = Rule("chat", "1/second", paths=["/api/chat"], methods=["post"])
    item = Rule("item", "1/second", paths=["/items/{id}"])
    assert admin.matches("/api/admin/infra", "GET") and admin.matches("/api/admin/a/b", "POST")
    assert not admin.matches("/api/adminx", "GET")
    assert chat.matches("/api/chat", "POST") and not chat.matches("/api/chat", "GET")
    assert not chat.matches("/api/chat/x", "POST")
    assert item.matches("/items/42", "GET") and not item.matches("/items/42/x", "GET")
    # Starlette runs a GET endpoint for HEAD too: a GET limit must not be skipped by HEAD
    search = Rule("search", "1/second", paths=["/search"], methods=["get"])
    assert search.matches("/search", "HEAD") and not search.matches("/search", "POST")


def test_limits_storage_adapter_refuses_gcra_at_start_up() -> None:
    import limits.aio.storage

    from mediz_infra.ratelimit import LimitsStore

    with pytest.raises(ConfigError, match=r"rule 'g'.*not available"):
        RateLimitMiddleware(
            ok_app, rules=[Rule("g", "1/second")], storage=limits.aio.storage.MemoryStorage()
        )
    with pytest.raises(ConfigError, match="storage"):
        LimitsStore("async+nosuch://x")
