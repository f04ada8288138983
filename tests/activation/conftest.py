from __future__ import annotations

from collections.abc import Iterator

import pytest
from writeback_vendors import FakeGoogle, FakeMeta, Sleeps

from sandbox import SandboxServer, World, WorldSpec


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def meta() -> Iterator[FakeMeta]:
    vendor = FakeMeta().start()
    vendor.entities["1001"] = {
        "id": "1001",
        "name": "Prospecting",
        "daily_budget": "2000",
        "status": "ACTIVE",
    }
    vendor.entities["2002"] = {
        "id": "2002",
        "name": "CBO campaign",
        "daily_budget": "5000",
        "status": "ACTIVE",
    }
    vendor.entities["2003"] = {
        "id": "2003",
        "name": "Ad set under CBO",
        "daily_budget": None,
        "cbo_child": True,
    }
    yield vendor
    vendor.stop()


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    vendor = FakeGoogle().start()
    vendor.add_budget("501", 50_000_000)
    vendor.add_budget("502", 30_000_000)
    vendor.add_budget("503", 10_000_000, shared=True, campaigns=3)
    yield vendor
    vendor.stop()


@pytest.fixture
def world() -> World:
    """The tiny world without mess, for the Klaviyo writer's tests."""
    return World(WorldSpec.preset("tiny", clean=True))


@pytest.fixture
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as srv:
        yield srv
