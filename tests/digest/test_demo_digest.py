"""``loopwise demo`` ends with one weekly_digest run of the code location and prints the report's path."""

from __future__ import annotations

import os

import dagster as dg
import pytest
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from digest_warehouse import digest_warehouse


@pytest.fixture
def isolated_env():
    monkeypatch = pytest.MonkeyPatch()
    saved = dict(os.environ)
    try:
        yield monkeypatch
    finally:
        monkeypatch.undo()
        os.environ.clear()
        os.environ.update(saved)


def test_demo_writes_one_digest_and_prints_its_path(isolated_env, tmp_path, capsys) -> None:
    from core.settings import load_paths
    from loopwise.commands.demo import write_weekly_digest
    from loopwise.runner import prepare_environment
    from loopwise.summary import print_digest

    for name in (
        "LOOPWISE_SLACK_WEBHOOK_URL",
        "LOOPWISE_SMTP_HOST",
        "LOOPWISE_OUTBOX_DIR",
        "LOOPWISE_LLM_API_KEY",
        "LOOPWISE_WAREHOUSE_PATH",  # an earlier test's warehouse: this one builds its own
    ):
        isolated_env.delenv(name, raising=False)
    paths = load_paths(str(tmp_path))
    prepare_environment(paths)
    digest_warehouse(paths.warehouse)[0].close()

    digest = write_weekly_digest()
    assert digest.success
    assert digest.html is not None and digest.html.parent == paths.reports_dir / "digest"
    assert digest.html.exists() and digest.html.with_suffix(".md").exists()
    with dg.DagsterInstance.get() as instance:  # a run of the code location's job, as the UI lists it
        (run,) = instance.get_runs(
            filters=dg.RunsFilter(
                job_name="weekly_digest", tags={REPOSITORY_LABEL_TAG: "__repository__@loopwise"}
            )
        )
    assert run.is_success
    print_digest(digest)
    printed = capsys.readouterr().out
    assert f"  {digest.html} (and .md beside it; charts draw offline)" in printed
    assert "# Loopwise weekly digest, " in printed and "## What needs your decision" in printed
    assert len(list((tmp_path / "outbox").glob("digest-*_digest.json"))) == 1
