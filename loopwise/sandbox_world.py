"""The embedded sandbox world the default target serves (``$LOOPWISE_HOME/sandbox``).

Product code reaches the sandbox only through configuration: this module turns a running
``SandboxServer`` into the same ``SourceSettings`` a real deployment reads from dlt config.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

STATE_FILE = "world_state.json"


def open_sandbox_world(state_dir: Path, preset: str = "demo") -> Any:
    """Load the saved world, or create one from ``preset`` and save it."""
    from sandbox import World, WorldSpec

    state_path = Path(state_dir) / STATE_FILE
    if state_path.exists():
        return World.load_state(state_path)
    world = World(WorldSpec.preset(preset))
    state_path.parent.mkdir(parents=True, exist_ok=True)
    world.save_state(state_path)
    return world


def create_sandbox_world(state_dir: Path, spec: Any, truth_dir: Path | None = None) -> Any:
    """Create (replace) the saved world from ``spec``; write its ground truth separately."""
    from sandbox import World

    world = World(spec)
    state_path = Path(state_dir) / STATE_FILE
    state_path.parent.mkdir(parents=True, exist_ok=True)
    world.save_state(state_path)
    if truth_dir is not None:
        world.write_truth(truth_dir)
    return world


def sandbox_source_settings(server: Any, world: Any, **overrides: Any) -> Any:
    """``SourceSettings`` pointing every source at ``server`` with the world's keys and clock."""
    from ingestion.config import SourceSettings

    spec = world.spec
    urls = server.vendor_base_urls
    keys = spec.api_keys
    values: dict[str, Any] = {
        "klaviyo_api_key": keys["klaviyo"],
        "klaviyo_base_url": urls["klaviyo"],
        "hubspot_access_token": keys["hubspot"],
        "hubspot_base_url": urls["hubspot"],
        "meta_access_token": keys["meta"],
        "meta_account_id": str(spec.meta_account_id),
        "meta_base_url": urls["meta"],
        "google_ads_access_token": keys["google_ads"],
        "google_ads_developer_token": keys.get("google_ads_developer", keys["google_ads"]),
        "google_ads_customer_id": str(spec.google_customer_id),
        "google_ads_base_url": urls["google_ads"],
        "start_date": spec.start_date,
        # The world serves data strictly before its clock: the last complete day is the one before.
        "end_date": (world.clock - timedelta(days=1)).date(),
    }
    values.update(overrides)
    return SourceSettings(**values)
