"""Schema drift and damaged bodies in the sandbox: off by default (byte-identical), on by knob."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from sandbox import FaultConfig, SandboxServer, World, WorldSpec


def _get(server: SandboxServer, path: str, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(server.base_url + path, headers=headers)
    with urllib.request.urlopen(request) as response:  # noqa: S310 - local sandbox
        return response.read()


META = "/meta/v27.0/act_1234567890/insights?time_range=%7B%22since%22%3A%222026-01-05%22%2C%22until%22%3A%222026-01-10%22%7D"


def _meta_headers(spec: WorldSpec) -> dict[str, str]:
    return {"Authorization": f"Bearer {spec.api_keys['meta']}"}


def test_default_spec_state_has_no_drift_key() -> None:
    spec = WorldSpec.preset("tiny")
    assert "dropped_fields" not in spec.to_dict()
    dropped = WorldSpec.preset("tiny", dropped_fields={"meta.insights": ["spend"]})
    assert WorldSpec.from_dict(dropped.to_dict()).dropped_fields == {"meta.insights": ["spend"]}
    with pytest.raises(ValueError, match="unknown resources"):
        WorldSpec.preset("tiny", dropped_fields={"meta.nope": ["spend"]})


def test_dropped_field_is_absent_and_other_fields_unchanged() -> None:
    spec = WorldSpec.preset("tiny")
    with SandboxServer(World(spec)) as server:
        good = json.loads(_get(server, META, _meta_headers(spec)))
    drifted_spec = WorldSpec.preset("tiny", dropped_fields={"meta.insights": ["spend"]})
    with SandboxServer(World(drifted_spec)) as server:
        drifted = json.loads(_get(server, META, _meta_headers(drifted_spec)))
    assert good["data"] and all("spend" in row for row in good["data"])
    assert all("spend" not in row for row in drifted["data"])
    assert [{k: v for k, v in row.items() if k != "spend"} for row in good["data"]] == drifted["data"]


def test_truncation_is_off_by_default_and_cuts_bodies_when_on() -> None:
    spec = WorldSpec.preset("tiny")
    with SandboxServer(World(spec)) as server:
        reference = _get(server, META, _meta_headers(spec))
    with SandboxServer(World(spec), faults=FaultConfig(truncate_rate=1.0)) as server:
        cut = _get(server, META, _meta_headers(spec))
    json.loads(reference)
    assert 0 < len(cut) < len(reference) and reference.startswith(cut)
    with pytest.raises(ValueError):
        json.loads(cut)


def test_fault_defaults_unchanged() -> None:
    config: Any = FaultConfig()
    assert config.truncate_rate == 0.0 and config.error_rate == 0.0 and config.timeout_rate == 0.0
