"""Shared test options. `pytest --update-golden` rewrites the golden build outputs (tests/golden/)."""

from __future__ import annotations

import pytest

# the real control plane's session fixtures, shared by tests/cluster and tests/reliability
pytest_plugins = ["tests.cluster.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current build output instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
