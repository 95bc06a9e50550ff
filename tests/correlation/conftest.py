"""Fixtures of the correlation tests: the real RLP districts, the shipped rules, and the engine
under test. ``engine`` and ``engine_type`` run every test that takes them against both engines,
the Python one (the reference) and the native one (Rust): one contract suite for both."""

from __future__ import annotations

from typing import cast

import pytest

from correlation.engine import Engine
from correlation.native import NativeEngine
from correlation.rules import Rules
from ingest.districts import Districts, rlp_districts

# NativeEngine is a drop-in replacement of Engine, not a subclass; tests type both as Engine.
ENGINE_TYPES: dict[str, type[Engine]] = {
    "python": Engine,
    "native": cast(type[Engine], NativeEngine),
}


@pytest.fixture(scope="session")
def districts() -> Districts:
    return rlp_districts()


@pytest.fixture(scope="session")
def rules() -> Rules:
    return Rules.default()


@pytest.fixture(scope="session", params=list(ENGINE_TYPES))
def engine_type(request: pytest.FixtureRequest) -> type[Engine]:
    """The engine class under test (session scope, so Hypothesis tests may take it too)."""
    return ENGINE_TYPES[request.param]


@pytest.fixture
def engine(engine_type: type[Engine], rules: Rules, districts: Districts) -> Engine:
    return engine_type(rules, districts)
