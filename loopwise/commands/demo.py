"""``loopwise demo`` / ``loopwise dev`` / ``loopwise prepare``: the embedded default target."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from loopwise.errors import OperatorError, UsageError

if TYPE_CHECKING:
    from core.settings import LoopwisePaths
    from sandbox import WorldSpec


# the names of sandbox.spec.PRESETS, spelled out so the command line starts without importing the sandbox
PRESET_NAMES = ["tiny", "demo", "medium", "large"]


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="build the sandbox world and materialize everything on it; print a summary",
        description=(
            "Creates the simulated marketing world (if missing), serves it over local HTTP, runs the "
            "daily_refresh job in-process (dlt ingest -> quality gates -> dbt build -> decisions -> BI "
            "snapshot), then does what the incident_pager sensor does: a notify run that delivers the "
            "new incidents' pages (to the local outbox unless Slack, PagerDuty or email is configured). "
            "Prints a summary and the first page. Everything stays under --home (default ./data)."
        ),
    )
    demo.add_argument("--home", default=None, help="data directory (default: $LOOPWISE_HOME or ./data)")
    demo.add_argument("--preset", default="demo", choices=PRESET_NAMES, help="world size")
    demo.add_argument("--world", default=None, help="world spec YAML overriding the preset")
    demo.add_argument("--fresh", action="store_true", help="discard the saved world and warehouse first")
    demo.set_defaults(func=run_demo)

    dev = subparsers.add_parser("dev", help="open the Dagster UI on the sandbox warehouse (dagster dev)")
    dev.add_argument("--home", default=None)
    dev.add_argument("--preset", default="demo", choices=PRESET_NAMES)
    dev.add_argument("--port", default="3000")
    dev.add_argument(
        "--charts-port", default=None, type=int, help="where the decision charts are served (default 3001)"
    )
    dev.set_defaults(func=run_dev)

    prepare = subparsers.add_parser("prepare", help="create the sandbox world and parse the dbt project")
    prepare.add_argument("--home", default=None)
    prepare.add_argument("--preset", default="demo", choices=PRESET_NAMES)
    prepare.set_defaults(func=run_prepare)


def prepare_home(
    home: str | None,
    preset: str,
    world_yaml: str | None = None,
    fresh: bool = False,
    spec: WorldSpec | None = None,
) -> LoopwisePaths:
    """Make ``home`` ready for a run: checks, the sandbox world (``spec``, else the YAML or preset), dbt parse."""
    import shutil

    from core.settings import load_paths
    from loopwise.preflight import run_checks
    from loopwise.runner import prepare_environment
    from sandbox import STATE_FILE, create_sandbox_world

    paths = load_paths(home)
    run_checks(paths.home, paths.dagster_home, paths.warehouse, fresh=fresh)
    if fresh:
        for stale in (
            paths.warehouse,
            Path(f"{paths.warehouse}.wal"),
            paths.sandbox_dir,
            paths.truth_dir,
            paths.dagster_home,
            paths.home / "dlt_pipelines",
        ):
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
    prepare_environment(paths)
    if not (paths.sandbox_dir / STATE_FILE).exists():
        from sandbox.truth import write_truth

        spec = spec or _world_spec(preset, world_yaml)
        started = time.perf_counter()
        world = create_sandbox_world(paths.sandbox_dir, spec)
        write_truth(world, paths.truth_dir)  # written for tests/benchmarks; nothing in the pipeline reads it
        print(
            f"Created the {spec.base_preset} sandbox world in {time.perf_counter() - started:.1f}s "
            f"(ground truth for tests/benchmarks only: {paths.truth_dir})"
        )
    _parse_dbt()
    return paths


def _world_spec(preset: str, world_yaml: str | None) -> WorldSpec:
    from sandbox import WorldSpec

    if not world_yaml:
        return WorldSpec.preset(preset)
    if not Path(world_yaml).exists():
        raise UsageError(f"world spec not found: {world_yaml}")
    return WorldSpec.from_yaml(world_yaml)


def _parse_dbt() -> Path:
    """``dbt parse``; a manifest that still does not load (truncated, corrupt) is re-parsed once."""
    from loopwise.errors import operator_message
    from loopwise.preflight import ensure_manifest
    from loopwise.runner import prepare_dbt

    try:
        manifest = prepare_dbt()
    except Exception as error:
        reason = operator_message(error) or str(error).strip().splitlines()[0]
        raise OperatorError(f"dbt parse of the dbt project failed: {reason}") from None
    ensure_manifest(manifest, prepare_dbt)
    return manifest


def run_prepare(args: argparse.Namespace) -> int:
    paths = prepare_home(args.home, args.preset)
    print(f"Ready: {paths.home}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from loopwise.preflight import sigterm_raises
    from loopwise.runner import run_job
    from loopwise.summary import print_digest, print_pages, print_summary

    started = time.perf_counter()
    paths = prepare_home(args.home, args.preset, args.world, args.fresh)
    print("Running daily_refresh in-process (ingest -> checks -> dbt build -> decisions -> BI snapshot)...")
    summary = run_job("daily_refresh", log_level="INFO")
    status = "succeeded" if summary.success else "failed"
    with sigterm_raises(f"delivering the pages of run {summary.run_id} (the run itself {status})"):
        pages = deliver_pages()
    with sigterm_raises(f"writing the weekly digest after run {summary.run_id} (the run itself {status})"):
        digest = write_weekly_digest() if summary.success else None
    with sigterm_raises(f"printing the summary of run {summary.run_id} (the run itself {status})"):
        print_summary(paths, summary, total_elapsed_s=time.perf_counter() - started)
        print_pages(pages)
        print_digest(digest)
    digest_ok = digest is None or digest.success
    return 0 if summary.success and pages.success and digest_ok else 1


@dataclass(frozen=True)
class WrittenDigest:
    """What the demo's weekly_digest run did: the report it wrote (None if the run failed)."""

    success: bool
    message: str
    html: Path | None
    markdown: str | None  # the digest's text


def write_weekly_digest() -> WrittenDigest:
    """What the Monday schedule does: one ``weekly_digest`` run, in-process like daily_refresh."""
    from loopwise.runner import run_job
    from orchestration.defs.digest.definitions import DIGEST_KEY, WEEKLY_DIGEST_JOB

    run = run_job(WEEKLY_DIGEST_JOB, log_level="WARNING")
    metadata = run.asset_metadata.get(DIGEST_KEY.to_user_string(), {})
    message = f"weekly_digest run {run.run_id} {'succeeded' if run.success else 'FAILED'}"
    html = metadata.get("path")
    return WrittenDigest(run.success, message, Path(html) if html else None, metadata.get("markdown"))


@dataclass(frozen=True)
class DeliveredPages:
    """What the demo's notify run did: ``outbox_files`` are the pages it wrote locally."""

    success: bool
    message: str  # the run's id and status, or why the pager requested no run
    channels: tuple[str, ...]
    outbox_dir: Path | None
    outbox_files: tuple[Path, ...] = ()


def deliver_pages() -> DeliveredPages:
    """What ``incident_pager`` does when it is on: evaluate it once and execute the ``notify`` run
    it requests, in-process like daily_refresh. Pages already delivered are not sent again."""
    import dagster as dg

    from activation.notify import DeliveryLedger, NotifySettings, OutboxNotifier, build_notifiers
    from loopwise.runner import run_job
    from orchestration.definitions import build_defs
    from orchestration.defs.notify.definitions import INCIDENT_PAGER, NOTIFY_JOB, NOTIFY_OP

    settings = NotifySettings.from_env()
    notifiers = build_notifiers(settings)
    outbox = next((n for n in notifiers if isinstance(n, OutboxNotifier)), None)
    delivered = DeliveredPages(
        success=True,
        message="",
        channels=tuple(n.name for n in notifiers),
        outbox_dir=outbox.directory.resolve() if outbox else None,
    )
    instance = dg.DagsterInstance.get()
    try:
        request = build_defs().resolve_sensor_def(INCIDENT_PAGER)(dg.build_sensor_context(instance=instance))
        if isinstance(request, dg.SkipReason):
            return replace(delivered, message=f"no notify run: {request.skip_message}")
        run = run_job(
            NOTIFY_JOB,
            instance=instance,
            log_level="WARNING",
            run_config=request.run_config,
            tags=dict(request.tags),
        )
    finally:
        instance.dispose()
    message = f"notify run {run.run_id} {'succeeded' if run.success else 'FAILED'}"
    if outbox is None:
        return replace(delivered, success=run.success, message=message)
    incident_ids = [
        item["incident_id"] for item in request.run_config["ops"][NOTIFY_OP]["config"]["incidents"]
    ]
    with DeliveryLedger.in_memory_copy(settings.ledger_path) as ledger:
        sent = [
            outbox.path_for(record.incident_id, record.action)
            for incident_id in incident_ids
            for record in ledger.deliveries(status=("sent",), incident_id=incident_id)
            if record.channel == outbox.name
        ]
    files = tuple(path.resolve() for path in sent if path.exists())
    return replace(delivered, success=run.success, message=message, outbox_files=files)


def start_chart_server_process(reports_dir: Path, port: int) -> str:
    """Serve ``reports_dir`` on localhost from a child process that dies with this one (and with the
    ``dagster dev`` this process becomes); returns the URL, exported for the code location's runs."""
    import subprocess

    from core.settings import CHARTS_HOST, CHARTS_URL_ENV
    from orchestration.defs.transform.dbt_launcher import die_with_parent

    parent = os.getpid()
    command = [
        sys.executable,
        "-m",
        "core.chart_server",
        "--directory",
        str(reports_dir),
        "--port",
        str(port),
    ]
    repo_root = Path(__file__).resolve().parents[2]
    subprocess.Popen(command, cwd=repo_root, preexec_fn=lambda: die_with_parent(parent))
    url = f"http://{CHARTS_HOST}:{port}"
    os.environ[CHARTS_URL_ENV] = url
    return url


def run_dev(args: argparse.Namespace) -> int:
    from core.settings import CHARTS_PORT, prepend_to_path

    paths = prepare_home(args.home, args.preset)
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    dagster = Path(sys.executable).with_name("dagster")
    charts = start_chart_server_process(paths.reports_dir, args.charts_port or CHARTS_PORT)
    print(
        f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={paths.dagster_home}, "
        f"warehouse {paths.warehouse}); charts on {charts}"
    )
    # Like an activated virtualenv: dagster-dbt finds dbt on PATH when it re-parses the project.
    prepend_to_path(dagster.parent)
    os.execv(str(dagster), [str(dagster), "dev", "-w", str(workspace), "-p", str(args.port)])
    return 0
