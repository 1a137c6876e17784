"""The cache contract (tests/unit/cache/test_contract*.py) on the real Redis."""

from __future__ import annotations

import pytest

from tests.unit.cache._contract_helpers import make_cache  # noqa: F401 - fixture reuse
from tests.unit.cache.test_contract import *  # noqa: F403 - the same suite, another backend
from tests.unit.cache.test_contract_serialisation import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture(params=["redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
