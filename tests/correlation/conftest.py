"""Fixtures of the correlation tests: the real RLP districts and the shipped rules."""

from __future__ import annotations

import pytest

from correlation.engine import Engine
from correlation.rules import Rules
from ingest.districts import Districts, rlp_districts


@pytest.fixture(scope="session")
def districts() -> Districts:
    return rlp_districts()


@pytest.fixture(scope="session")
def rules() -> Rules:
    return Rules.default()


@pytest.fixture
def engine(rules: Rules, districts: Districts) -> Engine:
    return Engine(rules, districts)
