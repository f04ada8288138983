"""The saved sandbox world of a data directory (``$LOOPWISE_HOME/sandbox``): one state file.

Creating a world writes only its state (spec, write log, clock). Ground truth is written by
whoever wants it, explicitly, with ``sandbox.truth.write_truth``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sandbox.spec import WorldSpec
from sandbox.world.core import World

STATE_FILE = "world_state.json"


def open_sandbox_world(state_dir: str | Path, preset: str = "demo") -> World:
    """Load the saved world, or create one from ``preset`` and save it."""
    state_path = Path(state_dir) / STATE_FILE
    if state_path.exists():
        return World.load_state(state_path)
    world = World(WorldSpec.preset(preset))
    state_path.parent.mkdir(parents=True, exist_ok=True)
    world.save_state(state_path)
    return world


def create_sandbox_world(state_dir: str | Path, spec: WorldSpec) -> World:
    """Create (replace) the saved world from ``spec``."""
    world = World(spec)
    state_path = Path(state_dir) / STATE_FILE
    state_path.parent.mkdir(parents=True, exist_ok=True)
    world.save_state(state_path)
    return world


def world_clock(state_dir: str | Path) -> datetime | None:
    """The saved world's clock (what "now" is in the sandbox), read without building the world."""
    state_path = Path(state_dir) / STATE_FILE
    if not state_path.exists():
        return None
    state = json.loads(state_path.read_text())
    return World.clock_for(WorldSpec.from_dict(state["spec"]), int(state.get("advanced_days", 0)))
