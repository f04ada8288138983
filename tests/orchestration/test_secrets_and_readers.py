"""Secrets never reach logs or the event log; BI readers never collide with the writer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import duckdb

CANARY = "canary-5f1e0c9d-do-not-log"


def test_secret_canary_absent_from_logs_and_event_log(pipeline_home, tmp_path, isolated_env, capfd, caplog):
    """Vendor mode (secrets from dlt's environment variables) against a sandbox whose keys are canaries."""
    from pipeline_helpers import clone_home

    from loopwise.runner import run_job
    from sandbox import SandboxServer, open_sandbox_world

    paths, instance = clone_home(pipeline_home.paths.home, tmp_path / "home", isolated_env)
    world = open_sandbox_world(paths.sandbox_dir)
    world.spec.api_keys.update({vendor: f"{CANARY}-{vendor}" for vendor in world.spec.api_keys})
    world.spec.api_keys["google_client_id"] = "loopwise-client"  # an OAuth client id is not a secret
    with SandboxServer(world) as server:
        urls = server.vendor_base_urls
        env = {
            "LOOPWISE_SOURCES_TARGET": "vendors",
            "SOURCES__KLAVIYO__API_KEY": f"{CANARY}-klaviyo",
            "SOURCES__KLAVIYO__BASE_URL": urls["klaviyo"],
            "SOURCES__HUBSPOT__ACCESS_TOKEN": f"{CANARY}-hubspot",
            "SOURCES__HUBSPOT__BASE_URL": urls["hubspot"],
            "SOURCES__META_ADS__ACCESS_TOKEN": f"{CANARY}-meta",
            "SOURCES__META_ADS__BASE_URL": urls["meta"],
            "SOURCES__META_ADS__ACCOUNT_ID": str(world.spec.meta_account_id),
            "GOOGLE_ADS_REFRESH_TOKEN": f"{CANARY}-google_refresh_token",
            "GOOGLE_ADS_CLIENT_ID": "loopwise-client",
            "GOOGLE_ADS_CLIENT_SECRET": f"{CANARY}-google_client_secret",
            "GOOGLE_ADS_TOKEN_URL": f"{urls['google_oauth']}/token",
            "SOURCES__GOOGLE_ADS__DEVELOPER_TOKEN": f"{CANARY}-google_ads",
            "SOURCES__GOOGLE_ADS__CUSTOMER_ID": str(world.spec.google_customer_id),
            "SOURCES__GOOGLE_ADS__BASE_URL": urls["google_ads"],
            "SOURCES__START_DATE": world.spec.start_date.isoformat(),
            "SOURCES__END_DATE": (world.clock - timedelta(days=1)).date().isoformat(),
        }
        for name, value in env.items():
            isolated_env.setenv(name, value)
        try:
            run = run_job("daily_refresh", instance=instance)
            # A failing call (wrong Klaviyo key) must not echo the key either.
            isolated_env.setenv("SOURCES__KLAVIYO__API_KEY", f"{CANARY}-wrong")
            failed = run_job("daily_refresh", instance=instance)
            records = instance.all_logs(run.run_id) + instance.all_logs(failed.run_id)
            run_configs = [instance.get_run_by_id(r.run_id).run_config for r in (run, failed)]
        finally:
            instance.dispose()
    assert run.success, run.failed_steps
    assert not failed.success
    assert any(path.startswith("/klaviyo") and status == 401 for _, path, status in server.request_log)
    event_text = "\n".join(repr(record) for record in records)
    assert "raw_klaviyo" in event_text  # the log really holds this run's events
    assert CANARY not in event_text
    assert CANARY not in repr(run_configs)
    captured = capfd.readouterr()
    assert CANARY not in captured.out + captured.err
    assert CANARY not in caplog.text
    for log_file in paths.home.rglob("*.log"):
        assert CANARY not in log_file.read_text(errors="replace"), log_file


READER = textwrap.dedent(
    """
    import sys, time, duckdb
    path, stop_file = sys.argv[1], sys.argv[2]
    reads = errors = 0
    import os
    while not os.path.exists(stop_file):
        try:
            con = duckdb.connect(path, read_only=True)
            con.execute("select count(*) from marts.fct_email_sends").fetchone()
            con.close()
            reads += 1
        except Exception as error:  # noqa: BLE001
            errors += 1
            print(repr(error), file=sys.stderr)
        time.sleep(0.05)
    print(reads, errors)
    """
)


def test_bi_reader_on_snapshot_while_pipeline_runs(pipeline_home, tmp_path, isolated_env):
    from pipeline_helpers import clone_home

    from loopwise.runner import run_job

    paths, instance = clone_home(pipeline_home.paths.home, tmp_path / "home", isolated_env)
    stop_file = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(paths.bi_snapshot), str(stop_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run = run_job("daily_refresh", instance=instance)
    finally:
        stop_file.touch()
        out, err = reader.communicate(timeout=60)
        instance.dispose()
    assert run.success, run.failed_steps
    reads, errors = (int(value) for value in out.split())
    assert errors == 0, err
    assert reads > 10
    # The snapshot was replaced during the run and is readable afterwards.
    con = duckdb.connect(str(paths.bi_snapshot), read_only=True)
    assert con.execute("select count(*) from marts.fct_email_sends").fetchone()[0] > 0
    con.close()
