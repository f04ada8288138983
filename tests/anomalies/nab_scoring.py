"""Scoring as the Numenta Anomaly Benchmark (NAB) defines it, for a fixed threshold.

A re-implementation of NAB's ``nab/sweeper.py`` (``calcSweepScore`` and the threshold row of
``calcScoreByThreshold``) and of the normalisation in ``nab/runner.py``:

- each labelled window is worth ``-fn_weight`` if no detection falls in it, else the scaled
  sigmoid of the earliest detection's position in it (``tp_weight`` at the left edge, 0 at the
  right edge); later detections in the same window add nothing;
- a detection outside every window costs ``fp_weight`` times the scaled sigmoid of its distance
  past the previous window (``-fp_weight`` with no previous window);
- the first 15 % of each file (at most 750 rows) is a probation period: not scored;
- a row is a detection when its anomaly score is at least the threshold;
- normalised score = 100 * (raw - null) / (perfect - null): 0 for a detector that never fires
  (every window missed), 100 for one that fires at the left edge of every window and nowhere
  else.

The NAB checkout is not part of this repository: :data:`NAB_ENV` names the directory holding
its ``data/``, ``labels/combined_windows.json``, ``config/`` and ``results/`` (by default
``~/.cache/nab``). Used by ``benchmarks/anomalies_nab.py`` and ``tests/anomalies/test_nab_scoring.py``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

NAB_ENV = "LOOPWISE_NAB_DIR"
CATEGORIES = ("realKnownCause", "realTraffic", "realAWSCloudwatch", "realTweets")
HELD_OUT = "realAdExchange"  # never read, run or tuned on


@dataclass(frozen=True)
class CostMatrix:
    tp_weight: float = 1.0
    fp_weight: float = 0.11
    fn_weight: float = 1.0


STANDARD = CostMatrix()  # NAB's config/profiles.json "standard"


@dataclass(frozen=True)
class FileScore:
    raw: float
    windows: int
    tp: int
    fp: int
    tn: int
    fn: int


def nab_dir() -> Path:
    return Path(os.environ.get(NAB_ENV, Path.home() / ".cache" / "nab"))


def load_windows(root: Path) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Labelled windows per data file (``category/name.csv``), the held-out category left out."""
    raw = json.loads((root / "labels" / "combined_windows.json").read_text())
    return {
        name: [(pd.Timestamp(start), pd.Timestamp(end)) for start, end in windows]
        for name, windows in raw.items()
        if not name.startswith(HELD_OUT)
    }


def data_files(root: Path, categories: tuple[str, ...] = CATEGORIES) -> list[str]:
    names = []
    for category in categories:
        if category == HELD_OUT:
            raise ValueError(f"{HELD_OUT} is held out")
        names += [f"{category}/{p.name}" for p in sorted((root / "data" / category).glob("*.csv"))]
    return names


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: ~0.987 at -1 (left edge of a window), 0 at 0 (right edge), -1 far past."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(rows: int, probation_percent: float = 0.15) -> float:
    return min(math.floor(probation_percent * rows), probation_percent * 5000)


def score_file(
    timestamps: pd.Series | list,
    detections: np.ndarray,
    windows: list[tuple[pd.Timestamp, pd.Timestamp]],
    cost: CostMatrix = STANDARD,
    probation_percent: float = 0.15,
) -> FileScore:
    """NAB raw score of one file, given which rows are detections (anomaly score >= threshold)."""
    stamps = list(pd.to_datetime(pd.Series(timestamps)))
    index = {stamp: i for i, stamp in enumerate(stamps)}  # first row of each timestamp
    detections = np.asarray(detections, dtype=bool)
    probation = probation_length(len(stamps), probation_percent)
    max_tp = scaled_sigmoid(-1.0)
    # Per row: which window it lies in (-1: none) and its weighted score if it were a detection.
    window_of = np.full(len(stamps), -1)
    sweep = np.empty(len(stamps))
    spans = sorted((index[start], index[end]) for start, end in windows)
    previous_right, previous_width = None, None
    cursor = 0
    for number, (left, right) in enumerate(spans + [(len(stamps), len(stamps))]):
        for i in range(cursor, left):  # outside any window: a false positive if detected
            if previous_right is None:
                unweighted = -1.0
            else:
                unweighted = scaled_sigmoid(abs(previous_right - i) / float(previous_width - 1))
            sweep[i] = unweighted * cost.fp_weight
        if number == len(spans):
            break
        width = float(right - left + 1)
        for i in range(left, right + 1):
            window_of[i] = number
            sweep[i] = scaled_sigmoid(-(right - i + 1) / width) * cost.tp_weight / max_tp
        previous_right, previous_width, cursor = right, width, right + 1
    scored = np.arange(len(stamps)) >= probation
    in_window = window_of >= 0
    raw = 0.0
    for number in np.unique(window_of[scored & in_window]):
        hits = scored & detections & (window_of == number)
        raw += max(-cost.fn_weight, float(sweep[hits].max())) if hits.any() else -cost.fn_weight
    raw += float(sweep[scored & detections & ~in_window].sum())
    return FileScore(
        raw=raw,
        windows=len(spans),
        tp=int((scored & detections & in_window).sum()),
        fp=int((scored & detections & ~in_window).sum()),
        tn=int((scored & ~detections & ~in_window).sum()),
        fn=int((scored & ~detections & in_window).sum()),
    )


def normalised(raw: float, windows: int, cost: CostMatrix = STANDARD) -> float:
    """100 * (raw - null) / (perfect - null) over files holding ``windows`` labelled windows."""
    null, perfect = -cost.fn_weight * windows, cost.tp_weight * windows
    return 100.0 * (raw - null) / (perfect - null)


def published_thresholds(root: Path, profile: str = "standard") -> dict[str, float]:
    raw = json.loads((root / "config" / "thresholds.json").read_text())
    return {detector: entry[profile]["threshold"] for detector, entry in raw.items()}


def published_file_scores(root: Path, detector: str, profile: str = "standard") -> dict[str, float]:
    """NAB's own per-file raw scores for a listed detector (its ``results/<detector>/*_scores.csv``)."""
    table = pd.read_csv(root / "results" / detector / f"{detector}_{profile}_scores.csv")
    table = table[(table["File"].astype(str) != "nan") & ~table["File"].astype(str).str.startswith(HELD_OUT)]
    return dict(zip(table["File"], table["Score"].astype(float), strict=True))


def detector_results(root: Path, detector: str, name: str) -> pd.DataFrame:
    """A listed detector's per-row anomaly scores for one data file."""
    category, file_name = name.split("/")
    return pd.read_csv(root / "results" / detector / category / f"{detector}_{file_name}")
