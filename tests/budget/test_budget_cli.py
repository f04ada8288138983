"""``loopwise budget recommend``: the JSON contract and clean errors."""

from __future__ import annotations

import json

import pytest
from budget_worlds import make_world

from loopwise.cli import main

TOP_KEYS = {
    "total_daily_budget",
    "expected_daily_revenue_current",
    "expected_daily_revenue_recommended",
    "recommendations",
}
ROW_KEYS = {
    "platform",
    "campaign_id",
    "ad_id",
    "current_daily_spend",
    "recommended_daily_budget",
    "change_pct",
    "expected_daily_revenue",
    "expected_roas",
    "roas_ci",
    "reason",
}


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("budget") / "ads.csv"
    make_world(5, n_campaigns=2, ads_per_campaign=3, days=40).history.to_csv(path, index=False)
    return path


def test_json_output_follows_the_contract(csv_file, capsys):
    assert main(["budget", "recommend", str(csv_file), "--format", "json", "--max-change", "0.2"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) >= TOP_KEYS
    assert len(payload["recommendations"]) == 6
    for row in payload["recommendations"]:
        assert set(row) >= ROW_KEYS
        assert len(row["roas_ci"]) == 2
        assert abs(row["change_pct"]) <= 0.2 + 1e-9
    total = sum(row["recommended_daily_budget"] for row in payload["recommendations"])
    assert abs(total - payload["total_daily_budget"]) < 1e-4


def test_total_budget_option_and_table(csv_file, capsys):
    assert main(["budget", "recommend", str(csv_file), "--format", "json"]) == 0
    current = json.loads(capsys.readouterr().out)["total_daily_budget"]
    assert (
        main(
            [
                "budget",
                "recommend",
                str(csv_file),
                "--total-daily-budget",
                f"{current * 1.1:.2f}",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["total_daily_budget"] == pytest.approx(current * 1.1, abs=0.01)
    assert main(["budget", "recommend", str(csv_file)]) == 0
    assert "Total daily budget" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("date,platform,ad_id,spend\n2026-01-01,meta,a,1\n", "missing column"),
        ("", "cannot read"),
        ("date,platform,campaign_id,ad_id,spend,revenue\n2026-01-01,meta,c,a,1,2\n", None),
    ],
)
def test_bad_files_exit_2_without_traceback(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code = main(["budget", "recommend", str(path), "--total-daily-budget", "100"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert (message or "cannot be reached") in err


def test_missing_file(tmp_path, capsys):
    assert main(["budget", "recommend", str(tmp_path / "nope.csv")]) == 2
    assert "not found" in capsys.readouterr().err


def test_engine_does_not_import_dagster():
    import subprocess
    import sys

    code = "import sys, decision_engine.budget, loopwise.commands.budget; print(any(m.startswith('dagster') for m in sys.modules))"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )
