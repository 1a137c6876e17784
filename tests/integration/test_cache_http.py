"""The HTTP response cache (tests/unit/cache/test_http.py) on the real Redis."""

from __future__ import annotations

import pytest

from tests.unit.cache.test_http import *  # noqa: F403 - the same suite, another backend
from tests.unit.cache.test_http import cache  # noqa: F401 - fixture reuse

pytestmark = pytest.mark.integration


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
