from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from quality_synthetic import build_warehouse


@pytest.fixture(scope="session")
def clean_warehouse_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; tests that change data use `warehouse` (a private copy)."""
    return build_warehouse(tmp_path_factory.mktemp("quality") / "clean.duckdb")


@pytest.fixture
def warehouse(clean_warehouse_file: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(clean_warehouse_file, copy)
    return copy
