"""Fixtures of the queue, policy and result-check tests."""

from __future__ import annotations

import pytest
from queue_helpers import warehouse


@pytest.fixture
def con(tmp_path):
    """A real DuckDB warehouse file, closed after the test."""
    connection = warehouse(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()
