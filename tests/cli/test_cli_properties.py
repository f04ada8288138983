"""Property tests for the three CSV commands (issue 19, "CLI inputs").

Generated CSVs mix ordinary numbers with extreme magnitudes (1e300, -1e300, 1e-300), values past a
double (1e400), inf/NaN text, empty cells, non-numbers, duplicated rows and timestamps written with
mixed UTC offsets. Whatever the input, a run either exits 0 with strict JSON on stdout (no NaN or
Infinity tokens) or exits non-zero with exactly one line on stderr and no traceback; and it never
raises a library warning (numpy overflow, pandas...).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loopwise.cli import main

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Finite extremes the commands accept (tiny, subnormal, at the 1e15 limit) and values they must refuse
# or treat as missing (past the limit, past a double, inf/NaN text, empty, not a number).
EXTREME = ["1e-300", "-1e-300", "5e-324", "1e15", "-1e15", "0", "-0.0"]
NASTY = ["1e300", "-1e300", "1e16", "1e400", "inf", "-inf", "Infinity", "NaN", "nan", "", "null", "abc"]
ordinary = st.integers(0, 500).map(str) | st.floats(0, 1e4, allow_nan=False).map(lambda x: f"{x:.3f}")
clean_cell = st.one_of(ordinary, st.sampled_from(EXTREME))
dirty_cell = st.one_of(ordinary, st.sampled_from(EXTREME), st.sampled_from(NASTY))


@st.composite
def cells(draw: st.DrawFn) -> st.SearchStrategy[str]:
    """Per generated file: clean cells only (half the files, so successful runs get checked too) or any."""
    return draw(st.sampled_from([clean_cell, dirty_cell]))


def _reject_constant(name: str) -> None:
    raise AssertionError(f"non-strict JSON token {name} on stdout")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``loopwise`` in-process; fail on any escaping exception or library warning."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse
                code = int(exit_.code or 0)
    assert not caught, f"warning(s) raised: {[f'{w.category.__name__}: {w.message}' for w in caught]}"
    return code, out.getvalue(), err.getvalue()


def check_outcome(code: int, stdout: str, stderr: str, *, json_output: bool = True) -> None:
    event("exit 0" if code == 0 else "error: " + stderr.split(":")[2].split(" has ")[0].strip()[:40])
    assert "Traceback" not in stderr
    if code == 0:
        if json_output:
            json.loads(stdout, parse_constant=_reject_constant)
        assert "warning" not in stderr.lower() or json_output is False
    else:
        lines = stderr.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("loopwise: error: "), stderr


def write(tmp: str, text: str) -> str:
    path = os.path.join(tmp, "input.csv")
    with open(path, "w") as handle:
        handle.write(text)
    return path


def stamp(instant: dt.datetime, style: str) -> str:
    """One instant (UTC) written naive, with Z, or with a -05:00 / +00:00 / +05:30 offset."""
    if style == "naive":
        return instant.strftime("%Y-%m-%d %H:%M:%S")
    if style == "Z":
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    offset = {"-05:00": -5, "+00:00": 0, "+05:30": 5.5}[style]
    return (instant + dt.timedelta(hours=offset)).strftime("%Y-%m-%dT%H:%M:%S") + style


@st.composite
def anomaly_csv(draw: st.DrawFn) -> tuple[str, list[str]]:
    cell = draw(cells())
    n = draw(st.integers(1, 45))
    step = draw(st.sampled_from([dt.timedelta(days=1), dt.timedelta(hours=1)]))
    styles = draw(st.sampled_from([["naive"], ["Z"], ["-05:00", "+00:00"], ["Z", "+05:30", "-05:00"]]))
    start = dt.datetime(2024, 10, 1)
    rows = [(stamp(start + i * step, draw(st.sampled_from(styles))), draw(cell)) for i in range(n)]
    for _ in range(draw(st.integers(0, 2))):  # duplicated timestamps
        rows.insert(draw(st.integers(0, len(rows))), (draw(st.sampled_from(rows))[0], draw(cell)))
    flags = ["--format", "json"]
    flags += draw(
        st.sampled_from(
            [
                [],
                ["--duplicates", "sum"],
                ["--duplicates", "mean"],
                ["--duplicates", "last"],
                ["--duplicates", "error"],
            ]
        )
    )
    flags += draw(st.sampled_from([[], ["--frequency", "daily"], ["--frequency", "hourly"]]))
    return "timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in rows), flags


@given(anomaly_csv())
@SETTINGS
def test_anomalies_detect_strict_json_or_one_line_error(case: tuple[str, list[str]]) -> None:
    text, flags = case
    with tempfile.TemporaryDirectory() as tmp:
        code, stdout, stderr = run_cli(["anomalies", "detect", write(tmp, text), *flags])
    check_outcome(code, stdout, stderr)
    if code == 0:
        points = len(json.loads(stdout)["points"])
        if "notice" in stderr:  # duplicates combined, one line saying so
            lines = stderr.strip("\n").split("\n")
            assert len(lines) == 1 and lines[0].startswith("loopwise: notice: "), stderr
            assert points < text.count("\n") - 1
        else:
            assert stderr == ""
            assert points == text.count("\n") - 1  # one point per input row


@st.composite
def budget_csv(draw: st.DrawFn) -> tuple[str, list[str]]:
    money_ok = st.one_of(
        ordinary, st.sampled_from(["0", "1e-6", "1e12", "-0.0"])
    )  # finite, within 1e-6..1e12
    cell = draw(st.sampled_from([money_ok, money_ok, st.one_of(ordinary, st.sampled_from(EXTREME + NASTY))]))
    days = draw(st.integers(1, 12))
    styles = draw(st.sampled_from([["date"], ["naive"], ["-05:00", "+00:00"], ["Z", "-05:00"]]))
    start = dt.datetime(2024, 3, 1)
    rows = []
    for day in range(days):
        for ad in ("a1", "a2", "b1"):
            style = draw(st.sampled_from(styles))
            date = (
                (start + dt.timedelta(days=day)).strftime("%Y-%m-%d")
                if style == "date"
                else stamp(start + dt.timedelta(days=day), style)
            )
            spend = draw(st.one_of(st.integers(10, 500).map(str), st.integers(10, 500).map(str), cell))
            revenue = draw(st.one_of(st.integers(0, 2000).map(str), st.integers(0, 2000).map(str), cell))
            rows.append(f"{date},meta,c{ad[0]},{ad},{spend},1000,{draw(cell)},5,{revenue}")
    for _ in range(draw(st.integers(0, 2))):
        rows.insert(draw(st.integers(0, len(rows))), draw(st.sampled_from(rows)))
    flags = ["--format", "json"]
    flags += draw(st.sampled_from([[], ["--total-daily-budget", "900"], ["--total-daily-budget", "1e300"]]))
    header = "date,platform,campaign_id,ad_id,spend,impressions,clicks,conversions,revenue\n"
    return header + "\n".join(rows) + "\n", flags


@given(budget_csv())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_budget_recommend_strict_json_or_one_line_error(case: tuple[str, list[str]]) -> None:
    text, flags = case
    with tempfile.TemporaryDirectory() as tmp:
        code, stdout, stderr = run_cli(["budget", "recommend", write(tmp, text), *flags])
    check_outcome(code, stdout, stderr)


@st.composite
def experiment_csv(draw: st.DrawFn) -> tuple[str, list[str]]:
    cell = draw(cells())
    n = draw(st.integers(2, 40))
    rows = []
    for i in range(n):
        variant = draw(st.sampled_from(["control", "treatment"])) if i > 1 else ("control", "treatment")[i]
        rows.append(f"u{i},{variant},{draw(cell)},{draw(st.sampled_from(['0', '1', '1', draw(cell)]))}")
    for _ in range(draw(st.integers(0, 2))):
        rows.insert(draw(st.integers(0, len(rows))), draw(st.sampled_from(rows)))
    flags = [
        "--variant-col",
        "variant",
        "--control",
        "control",
        "--metric",
        "revenue",
        "--metric",
        "converted",
    ]
    flags += draw(st.sampled_from([[], ["--unit-col", "unit"]]))
    return "unit,variant,revenue,converted\n" + "\n".join(rows) + "\n", [*flags, "--format", "json"]


@given(experiment_csv())
@SETTINGS
def test_experiments_analyze_strict_json_or_one_line_error(case: tuple[str, list[str]]) -> None:
    text, flags = case
    with tempfile.TemporaryDirectory() as tmp:
        code, stdout, stderr = run_cli(["experiments", "analyze", write(tmp, text), *flags])
    check_outcome(code, stdout, stderr)


# The issue's own examples, run as a real process with warnings turned into errors (-W error).
ISSUE_CASES = [
    (
        "anomalies",
        "timestamp,value\n"
        + "".join(f"2024-01-{d:02d},{1e308 if d == 20 else 100 + d % 7}\n" for d in range(1, 29)),
        ["anomalies", "detect", "{path}", "--format", "json"],
        "column 'value' has 1e+308 on line 21, beyond the accepted magnitude of 1e+15",
    ),
    (
        "anomalies-inf",
        "timestamp,value\n" + "".join(f"2024-01-{d:02d},{'inf' if d == 20 else 100}\n" for d in range(1, 29)),
        ["anomalies", "detect", "{path}", "--format", "json"],
        "column 'value' has an infinite value on line 21",
    ),
    (
        "anomalies-dst",
        "timestamp,value\n"
        + "".join(f"2024-11-03 {h:02d}:00:00,{100 + h}\n" for h in (0, 1))
        + "2024-11-03 01:00:00,90\n2024-11-03 02:00:00,95\n",
        ["anomalies", "detect", "{path}", "--format", "json", "--duplicates", "error"],
        "lines 3 and 4 fall on the same timestamp",
    ),
    (
        "experiments",
        "variant,revenue\ncontrol,1\ntreatment,1e300\ncontrol,2\ntreatment,3\n",
        [
            "experiments",
            "analyze",
            "{path}",
            "--variant-col",
            "variant",
            "--control",
            "control",
            "--metric",
            "revenue",
        ],
        "column 'revenue' has 1e+300 on line 3",
    ),
    (
        "budget",
        "date,platform,campaign_id,ad_id,spend,impressions,clicks,conversions,revenue\n"
        + "".join(
            f"2024-03-{d:02d},meta,c1,a1,{1e300 if d == 9 else 100},1000,50,5,300\n" for d in range(1, 10)
        ),
        ["budget", "recommend", "{path}", "--format", "json"],
        "column 'spend' has 1e+300 on line 10, beyond the accepted magnitude of 1e+12 per ad per day",
    ),
]


@pytest.mark.parametrize("name, text, argv, message", ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_issue_examples_as_a_process(
    tmp_path: Path, name: str, text: str, argv: list[str], message: str
) -> None:
    path = tmp_path / "input.csv"
    path.write_text(text)
    run = subprocess.run(
        [sys.executable, "-W", "error", "-m", "loopwise.cli", *(a.format(path=path) for a in argv)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr


def test_budget_mixed_offsets_are_read_on_one_clock(tmp_path: Path) -> None:
    """Issue 19 item 6: -05:00 and +00:00 in one file used to be a 33-line pandas traceback."""
    rows = [
        f"2024-03-{d:02d}T00:00:00{'-05:00' if d % 2 else '+00:00'},meta,c1,{ad},{100 + d},1000,50,5,{300 + 3 * d}"
        for d in range(1, 22)
        for ad in ("a1", "a2")
    ]
    header = "date,platform,campaign_id,ad_id,spend,impressions,clicks,conversions,revenue\n"
    mixed, naive = tmp_path / "mixed.csv", tmp_path / "naive.csv"
    mixed.write_text(header + "\n".join(rows) + "\n")
    naive.write_text(
        header
        + "\n".join(r.replace("T00:00:00-05:00", "").replace("T00:00:00+00:00", "") for r in rows)
        + "\n"
    )
    results = []
    for path in (mixed, naive):
        code, stdout, stderr = run_cli(["budget", "recommend", str(path), "--format", "json"])
        assert code == 0, stderr
        payload = json.loads(stdout, parse_constant=_reject_constant)
        results.append([(r["ad_id"], r["recommended_daily_budget"]) for r in payload["recommendations"]])
    assert results[0] == results[1]  # midnight at -05:00 is 05:00 UTC: the same calendar day


def test_anomalies_duplicates_keep_the_last_row_by_default_and_say_so(tmp_path: Path) -> None:
    days = [f"2024-01-{d:02d}" for d in range(1, 31)]
    rows = [f"{day},{100 + i % 7}" for i, day in enumerate(days)] + [f"{days[-1]},40"]
    path = tmp_path / "dup.csv"
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    code, stdout, stderr = run_cli(["anomalies", "detect", str(path), "--format", "json"])
    points = json.loads(stdout)["points"]
    assert code == 0 and len(points) == 30 and points[-1]["value"] == 40
    assert stderr.startswith("loopwise: notice: lines 31 and 32 fall on the same timestamp")
    assert "kept the last row" in stderr and stderr.count("\n") == 1
    code, _, stderr = run_cli(["anomalies", "detect", str(path), "--format", "json", "--duplicates", "error"])
    assert code == 2 and "--duplicates last|sum|mean" in stderr
    expected = {"sum": 100 + 29 % 7 + 40, "mean": (100 + 29 % 7 + 40) / 2, "last": 40}
    for rule, value in expected.items():
        code, stdout, stderr = run_cli(
            ["anomalies", "detect", str(path), "--format", "json", "--duplicates", rule]
        )
        points = json.loads(stdout)["points"]
        assert code == 0 and len(points) == 30 and points[-1]["value"] == value, (rule, stderr)
