"""Fixtures of the cache contract suite (``test_contract*.py``) on the in-process backends."""

from __future__ import annotations

import pytest

from tests.unit.cache._contract_helpers import make_cache  # noqa: F401 - shared with integration


@pytest.fixture(params=["memory"])
def backend(request: pytest.FixtureRequest) -> str:
    """The store the contract runs on (tests/integration overrides it with the real Redis)."""
    return str(request.param)
