"""``loopwise experiments analyze``: JSON contract, table output, clear errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopwise.cli import main

EXPERIMENT_KEYS = {"experiment", "srm_p_value", "srm_flag", "results"}
RESULT_KEYS = {
    "metric", "variant", "control", "n_control", "n_variant", "mean_control", "mean_variant", "absolute_lift",
    "absolute_ci", "relative_lift", "relative_ci", "p_value", "p_value_adjusted", "sequential_ci",
    "sequential_p_value", "chance_to_beat_control", "decision", "explanation", "is_primary", "note_codes",
    "reason_code",
}  # fmt: skip


def _units(n: int, experiment: str, variants: dict[str, float], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for variant, rate in variants.items():
        pre = rng.poisson(3, n)
        frames.append(
            pd.DataFrame(
                {
                    "experiment": experiment,
                    "user": [f"{experiment}-{variant}-{i}" for i in range(n)],
                    "arm": variant,
                    "clicked": (rng.random(n) < rate).astype(int),
                    "revenue": rng.gamma(2.0, 10.0, n) * (1 + pre / 10),
                    "unsubscribed": (rng.random(n) < 0.004).astype(int),
                    "pre_revenue": pre,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture()
def csv_file(tmp_path: Path) -> Path:
    frame = pd.concat(
        [
            _units(4000, "subject", {"A": 0.04, "B": 0.06}, 1),
            _units(1500, "cta", {"A": 0.05, "B": 0.05, "C": 0.05}, 2),
        ]
    )
    path = tmp_path / "units.csv"
    frame.to_csv(path, index=False)
    return path


def _args(path: Path, *extra: str) -> list[str]:
    return ["experiments", "analyze", str(path), "--variant-col", "arm", "--control", "A", *extra]


def test_json_contract(csv_file: Path, capsys) -> None:
    code = main(_args(csv_file, "--metric", "clicked", "--metric", "revenue", "--metric", "unsubscribed",
                      "--experiment-col", "experiment", "--unit-col", "user", "--covariate-col", "pre_revenue",
                      "--format", "json"))  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"experiments"}
    assert [e["experiment"] for e in payload["experiments"]] == ["cta", "subject"]
    for experiment in payload["experiments"]:
        assert set(experiment) == EXPERIMENT_KEYS
        assert isinstance(experiment["srm_flag"], bool) and 0 <= experiment["srm_p_value"] <= 1
        for row in experiment["results"]:
            assert set(row) == RESULT_KEYS
            assert all(len(row[k]) == 2 for k in ("absolute_ci", "relative_ci", "sequential_ci"))
            assert row["decision"] in {"ship", "keep_control", "continue", "stop_for_harm"}
            assert row["explanation"]
    subject = {(r["metric"], r["variant"]): r for r in payload["experiments"][1]["results"]}
    clicks = subject[("clicked", "B")]
    assert clicks["n_control"] == clicks["n_variant"] == 4000
    assert clicks["relative_ci"][0] < clicks["relative_lift"] < clicks["relative_ci"][1]
    assert clicks["sequential_ci"][0] <= clicks["absolute_ci"][0]  # the always-valid interval is wider
    assert clicks["decision"] == "ship" and clicks["explanation"].startswith("Variant B lifted clicked")
    assert clicks["reason_code"] == "primary_better" and clicks["is_primary"] is True
    assert all(row["reason_code"] == "primary_better" for row in payload["experiments"][1]["results"])
    assert len(payload["experiments"][0]["results"]) == 6  # 2 variants x 3 metrics


def test_table_is_default_and_single_experiment(csv_file: Path, capsys) -> None:
    frame = pd.read_csv(csv_file)
    path = csv_file.with_name("one.csv")
    frame[frame["experiment"] == "subject"].to_csv(path, index=False)
    assert main(_args(path, "--metric", "clicked")) == 0
    out = capsys.readouterr().out
    assert "clicked" in out and "decision" in out and "ship" in out
    assert main(_args(path, "--metric", "clicked", "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out)["experiments"][0]["experiment"] is None


def test_units_in_two_arms_are_excluded(csv_file: Path, capsys, tmp_path: Path) -> None:
    frame = pd.read_csv(csv_file)
    frame = frame[frame["experiment"] == "subject"]
    twice = frame[frame["arm"] == "A"].head(7).assign(arm="B")
    path = tmp_path / "contaminated.csv"
    pd.concat([frame, twice]).to_csv(path, index=False)
    assert main(_args(path, "--metric", "clicked", "--unit-col", "user", "--format", "json")) == 0
    row = json.loads(capsys.readouterr().out)["experiments"][0]["results"][0]
    assert (row["n_control"], row["n_variant"]) == (3993, 4000)
    assert "7 units seen in more than one arm excluded" in row["explanation"]
    assert row["note_codes"] == ["contaminated"]


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("mutate", "extra", "message"),
    [
        (None, ["--metric", "nope"], "column(s) not in"),
        (None, ["--metric", "clicked", "--experiment-col", "missing"], "column(s) not in"),
        (lambda f: f.assign(arm=f["arm"].replace({"A": "control"})), ["--metric", "clicked"], "control 'A' is not a value"),
        (lambda f: f[f["arm"] == "A"], ["--metric", "clicked"], "single arm"),
        (lambda f: f.assign(clicked=f["clicked"].where(f.index != 3)), ["--metric", "clicked"], "missing value"),
        (lambda f: f.assign(clicked=f["clicked"].astype(str).where(f.index != 5, "yes")), ["--metric", "clicked"], "must be numeric"),
        (lambda f: f[~((f["experiment"] == "cta") & (f["arm"] == "A"))], ["--metric", "clicked", "--experiment-col", "experiment"],
         "experiment 'cta' has no control arm"),
        (None, ["--metric", "clicked", "--alpha", "1.5"], "--alpha"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_message(
    csv_file: Path, tmp_path: Path, capsys, mutate, extra, message
) -> None:
    frame = pd.read_csv(csv_file)
    path = _write(tmp_path, mutate(frame)) if mutate else csv_file
    assert main(_args(path, *extra)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_missing_and_unreadable_files(tmp_path: Path, capsys) -> None:
    assert main(_args(tmp_path / "absent.csv", "--metric", "clicked")) == 2
    assert "file not found" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(_args(empty, "--metric", "clicked")) == 2
    assert "cannot read" in capsys.readouterr().err
