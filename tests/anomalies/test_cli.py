from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopwise.cli import main

FIELDS = {"timestamp", "value", "expected", "lower", "upper", "score", "is_anomaly", "severity", "direction"}


def _csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _series(n: int = 70) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    values = rng.normal(100, 4, n).round(2)
    values[60] = 20
    return pd.DataFrame(
        {"day": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"), "sessions": values}
    )


def test_json_contract_one_point_per_row_in_input_order(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    frame = _series().sample(frac=1.0, random_state=0)  # shuffled input
    code = main(
        [
            "anomalies",
            "detect",
            _csv(tmp_path, frame),
            "--timestamp-col",
            "day",
            "--value-col",
            "sessions",
            "--format",
            "json",
        ]
    )
    points = json.loads(capsys.readouterr().out)["points"]
    assert code == 0 and len(points) == len(frame)
    assert [p["timestamp"] for p in points] == list(frame["day"])
    assert all(set(p) == FIELDS for p in points)
    flagged = [p for p in points if p["is_anomaly"]]
    assert [(p["timestamp"], p["severity"], p["direction"]) for p in flagged] == [
        ("2024-03-01", "critical", "drop")
    ]
    assert all(0 <= p["score"] <= 1 for p in points)


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _csv(tmp_path, _series().rename(columns={"day": "timestamp", "sessions": "value"}))
    assert main(["anomalies", "detect", path]) == 0
    out = capsys.readouterr().out
    assert "critical drop" in out and "1 of 70 points flagged" in out


def test_missing_values_give_null_points(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = _series().rename(columns={"day": "timestamp", "sessions": "value"}).astype({"value": object})
    frame.loc[10, "value"] = ""
    main(["anomalies", "detect", _csv(tmp_path, frame), "--format", "json"])
    point = json.loads(capsys.readouterr().out)["points"][10]
    assert point["value"] is None and point["is_anomaly"] is False


@pytest.mark.parametrize(
    "content, message",
    [
        ("timestamp,value\n2024-01-01,1\n", "column 'sessions' not found"),
        ("timestamp,sessions\n2024-01-01,abc\n", "non-numeric value 'abc' on line 2"),
        ("timestamp,sessions\nyesterday,1\n", "not a timestamp"),
        ("timestamp,sessions\n", "has no rows"),
        ("", "cannot read"),
    ],
)
def test_bad_input_is_a_clear_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code = main(["anomalies", "detect", str(path), "--value-col", "sessions"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_file(capsys: pytest.CaptureFixture) -> None:
    assert main(["anomalies", "detect", "/nonexistent/file.csv"]) == 2
    assert "file not found" in capsys.readouterr().err


def _irregular_sensor(n: int = 1200) -> tuple[pd.DataFrame, int]:
    """A 5-minute sensor that also reports 3 minutes after every tenth reading (as NAB's traffic
    sensors do), with a spike on one of those off-grid readings; and that reading's row."""
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2024-01-01")
    stamps = list(start + pd.to_timedelta(np.arange(n) * 5, unit="min"))
    values = list(rng.normal(50, 2, n).round(3))
    for i in range(n - 10, 0, -10):  # insert from the end so earlier positions stay put
        stamps.insert(i + 1, stamps[i] + pd.Timedelta(minutes=3))
        values.insert(i + 1, round(float(rng.normal(50, 2)), 3))
    spike_row = stamps.index(start + pd.Timedelta(minutes=5 * 1000 + 3))
    values[spike_row] = 95.0
    frame = pd.DataFrame({"timestamp": [s.strftime("%Y-%m-%d %H:%M:%S") for s in stamps], "value": values})
    return frame, spike_row


def test_irregular_series_keeps_every_distinct_timestamp(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    frame, spike_row = _irregular_sensor()
    code = main(["anomalies", "detect", _csv(tmp_path, frame), "--format", "json"])
    captured = capsys.readouterr()
    points = json.loads(captured.out)["points"]
    # Off-grid readings are not duplicates of their neighbours on the 5-minute grid: no notice,
    # one verdict per row with the row's own value, and the spike on an off-grid reading is found.
    assert code == 0 and captured.err == ""
    assert [p["timestamp"] for p in points] == list(frame["timestamp"])
    assert [p["value"] for p in points] == list(frame["value"])
    flagged = [i for i, p in enumerate(points) if p["is_anomaly"]]
    assert spike_row in flagged and len(flagged) <= 3


def test_only_equal_timestamps_are_duplicates_without_frequency(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": [
                "2024-01-01 00:00:00",
                "2024-01-01 00:03:00",
                "2024-01-01 00:05:00",
                "2024-01-01 00:05:00",
            ],
            "value": [1.0, 2.0, 3.0, 4.0],
        }
    )
    path = _csv(tmp_path, frame)
    assert main(["anomalies", "detect", path, "--format", "json"]) == 0
    captured = capsys.readouterr()
    points = json.loads(captured.out)["points"]
    assert [p["value"] for p in points] == [1.0, 2.0, 4.0]  # the repeated 00:05 keeps its last row
    assert "lines 4 and 5 fall on the same timestamp" in captured.err
    assert main(["anomalies", "detect", path, "--format", "json", "--frequency", "hourly"]) == 0
    captured = capsys.readouterr()
    assert [p["value"] for p in json.loads(captured.out)["points"]] == [4.0]
    assert "fall on the same UTC hour" in captured.err
