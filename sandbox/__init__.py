"""Loopwise sandbox: a seeded, deterministic simulated marketing world behind real vendor-shaped HTTP APIs."""

from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from sandbox.spec import WorldSpec
from sandbox.world.core import World, WriteError

__all__ = ["FaultConfig", "SandboxServer", "World", "WorldSpec", "WriteError"]
