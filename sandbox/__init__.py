"""Loopwise sandbox: a seeded, deterministic simulated marketing world behind real vendor-shaped HTTP APIs.

Ground truth is not exported here: it is reachable only through ``sandbox.truth``.
"""

from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from sandbox.spec import WorldSpec
from sandbox.state import STATE_FILE, create_sandbox_world, open_sandbox_world
from sandbox.world.core import World, WriteError

__all__ = [
    "STATE_FILE",
    "FaultConfig",
    "SandboxServer",
    "World",
    "WorldSpec",
    "WriteError",
    "create_sandbox_world",
    "open_sandbox_world",
]
