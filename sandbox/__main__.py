"""Command line: `python -m sandbox serve --preset demo --state DIR --port N`, `truth`, `advance`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from sandbox.spec import PRESETS, WorldSpec
from sandbox.truth import write_truth
from sandbox.world.core import World


def _world(args: argparse.Namespace) -> World:
    state = Path(args.state) / "state.json" if args.state else None
    if state and state.exists():
        return World.load_state(state)
    spec = WorldSpec.from_yaml(args.spec) if getattr(args, "spec", None) else WorldSpec.preset(args.preset)
    if getattr(args, "seed", None) is not None:
        spec.seed = args.seed
    world = World(spec)
    if state:
        world.save_state(state)
    return world


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "truth", "advance"):
        p = sub.add_parser(name)
        p.add_argument("--preset", default="demo", choices=list(PRESETS))
        p.add_argument("--spec", help="WorldSpec YAML (overrides --preset)")
        p.add_argument("--seed", type=int)
        p.add_argument("--state", help="directory holding state.json (created if missing, updated on writes)")
        if name == "serve":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=8765)
            p.add_argument("--rate-limit-every", type=int, default=0)
            p.add_argument("--error-rate", type=float, default=0.0)
            p.add_argument("--timeout-rate", type=float, default=0.0)
        if name == "truth":
            p.add_argument("--out", required=True, help="directory for truth/*.json")
        if name == "advance":
            p.add_argument("--days", type=int, default=1)
    args = parser.parse_args(argv)
    world = _world(args)
    state_dir = Path(args.state) if args.state else None
    if args.command == "truth":
        for path in write_truth(world, args.out):
            print(path)
        return 0
    if args.command == "advance":
        world.advance(args.days)
        if state_dir:
            world.save_state(state_dir)
        print(world.clock.isoformat())
        return 0
    faults = FaultConfig(
        rate_limit_every=args.rate_limit_every, error_rate=args.error_rate, timeout_rate=args.timeout_rate
    )
    server = SandboxServer(
        world,
        faults=faults,
        host=args.host,
        port=args.port,
        on_change=(lambda w: w.save_state(state_dir)) if state_dir else None,
    )
    print(
        f"sandbox ({world.spec.base_preset}, seed {world.spec.seed}, clock {world.clock.isoformat()}) on {server.base_url}"
    )
    for vendor, url in server.vendor_base_urls.items():
        print(f"  {vendor:<11} {url}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
