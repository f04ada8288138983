"""Shared fixtures: one tiny world served once per session; helpers for each vendor's auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import SandboxServer, World, WorldSpec
from sandbox.truth import build_truth


@pytest.fixture(scope="session")
def tiny_world() -> World:
    return World(WorldSpec.preset("tiny"))


@pytest.fixture(scope="session")
def server(tiny_world: World) -> Iterator[SandboxServer]:
    with SandboxServer(tiny_world) as srv:
        yield srv


@pytest.fixture(scope="session")
def truth(tiny_world: World) -> dict[str, Any]:
    return build_truth(tiny_world)
