"""Micro-segments: every emailed contact in one interpretable, stable segment.

Four features per contact, each cut into a few bands at fixed, named edges:

1. **Recency**: days since the contact's last human open or click (``marts.fct_email_sends``):
   ``recent`` (under 30), ``lapsing`` (30-89), ``dormant`` (90 or more, or never).
2. **Click level**: the contact's clicks per delivered send (recency-weighted as in content
   affinity), shrunk towards the account's rate with the beta-binomial of ``shrinkage.py``, as a
   multiple of the account's rate: ``heavy`` (1.5x or more), ``average``, ``light`` (under 0.67x).
   Shrinkage keeps a contact with three sends and one click from reading as a heavy clicker.
3. **Preferred angle** (``results.content_affinity``, latest analysis): the preferred angle when its
   ``probability_best`` is at least 0.5, else ``mixed``. Skipped (every contact ``any``) when the
   table does not exist.
4. **Predicted value** (``results.customer_value``, latest analysis): ``high_value`` (the top 20%
   of customers by expected value over the horizon), ``customer`` (the other customers),
   ``prospect`` (no order yet). Skipped when the table does not exist.

**Stability (hysteresis).** The previous run's bands are read from ``results.micro_segments``. A
contact keeps its previous band while its feature stays within ``margin`` of that band's edges
(7 days of recency, 15% of click level, 0.1 of angle certainty, 25% of predicted value); only a
move past an edge by more than the margin changes its band. Noise near an edge therefore does not
flip a contact back and forth, while a real change (a contact that starts clicking everything)
moves it.

**Cells and merging.** A segment is a cell of the four bands. A cell smaller than the minimum size
gives up its angle first (the contact joins the same recency, click level and value with ``other``
angle), then its value, then its click level; what is still too small is ``everyone else``. A
segment that existed in the previous run survives down to ``keep_fraction`` of the minimum, so a
segment near the threshold does not appear and vanish on alternate runs.

Each segment gets a name from its bands and a plain-English description from its numbers
(``results.micro_segment_profiles``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.personalization.data_date import end_of, newest_send_day
from decision_engine.personalization.micro_segment_inputs import (
    load_angle_probability,
    load_engagement,
    load_expected_value,
)
from decision_engine.personalization.shrinkage import beta_posterior, fit_prior_strength
from decision_engine.store import ensure_results_table, table_exists, write_results

TABLE = "micro_segments"
PROFILES_TABLE = "micro_segment_profiles"
OTHER = "other"  # a band given up by merging
ANY = "any"  # a feature the account has no data for (content affinity or scores not run)
EVERYONE_ELSE = "everyone_else"
DIMENSIONS = ("recency", "click_level", "value", "angle")
MERGE_ORDER = ("angle", "value", "click_level")  # given up in this order when a cell is too small


@dataclass(frozen=True)
class Band:
    """A feature cut at ``edges`` (ascending) into ``labels`` (one more than the edges)."""

    feature: str
    edges: tuple[float, ...]
    labels: tuple[str, ...]
    margin: float  # in the feature's units: how far past an edge a contact must move to change band


@dataclass(frozen=True)
class MicroSegmentSettings:
    half_life_days: float = 30.0  # recency weighting of sends for the click level
    lookback_days: int = 365
    recency: Band = Band("days_since_engagement", (30.0, 90.0), ("recent", "lapsing", "dormant"), 7.0)
    # on log(click rate / account rate): light under 0.67x, heavy from 1.5x; margin 15%
    click_level: Band = Band(
        "log_click_ratio", (math.log(0.67), math.log(1.5)), ("light", "average", "heavy"), math.log(1.15)
    )
    angle_threshold: float = 0.5  # probability_best a preferred angle needs
    angle_margin: float = 0.1
    high_value_share: float = 0.2  # top share of customers by expected value
    value_margin: float = math.log(1.25)  # on log expected value
    min_segment_contacts: int = 50
    min_segment_share: float = 0.005  # of profiled contacts; the larger of the two is the minimum
    keep_fraction: float = 0.75  # an existing segment survives down to this share of the minimum
    fit_sample_contacts: int = 50_000


@dataclass
class MicroSegmentRun:
    rows: int
    segments: int
    analysis_date: date | None
    moved: int = 0  # contacts whose segment changed since the previous run
    previous_contacts: int = 0  # contacts in both runs
    features_used: tuple[str, ...] = ()
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        if not self.rows:
            return "Micro-segments: no delivered sends to segment yet."
        moved = (
            f"; {self.moved} of {self.previous_contacts} contacts changed segment since the last run"
            if self.previous_contacts
            else ""
        )
        return f"Micro-segments: {self.rows} contacts in {self.segments} segments{moved}."


def shrunk_click_rate(frame: pd.DataFrame, settings: MicroSegmentSettings) -> tuple[np.ndarray, float]:
    """Each contact's clicks per send shrunk towards the account's rate; and the account's rate."""
    clicked = frame["clicked"].to_numpy(dtype=np.float64)
    exposure = frame["exposure"].to_numpy(dtype=np.float64)
    account = float(min(max(clicked.sum() / max(exposure.sum(), 1e-12), 1e-6), 0.99))
    mu = np.full(len(frame), account)
    rows = np.linspace(0, len(frame) - 1, min(len(frame), settings.fit_sample_contacts)).astype(np.int64)
    strength = fit_prior_strength(clicked[rows], exposure[rows], mu[rows])
    return beta_posterior(clicked, exposure, mu, strength).mean, account


def assign_band(value: np.ndarray, band: Band, previous: np.ndarray | None = None) -> np.ndarray:
    """The band label of each value; with ``previous`` labels (None or "" where a contact has none),
    a contact keeps its previous band while its value is within ``band.margin`` of that band."""
    edges = np.asarray(band.edges, dtype=np.float64)
    labels = np.asarray(band.labels, dtype=object)
    index = np.searchsorted(edges, value, side="right")
    if previous is not None:
        lookup = {label: i for i, label in enumerate(band.labels)}
        before = np.array([lookup.get(label, -1) for label in previous], dtype=np.int64)
        lower = np.concatenate([[-np.inf], edges])[np.maximum(before, 0)] - band.margin
        upper = np.concatenate([edges, [np.inf]])[np.maximum(before, 0)] + band.margin
        keep = (before >= 0) & (value >= lower) & (value < upper)
        index = np.where(keep, before, index)
    return labels[index]


def assign_angle(
    probability: pd.DataFrame, settings: MicroSegmentSettings, previous: np.ndarray | None = None
) -> np.ndarray:
    """``probability``: contacts x angles, each angle's probability_best. The preferred angle when
    it is at least the threshold, else "mixed"; with a previous angle, the contact keeps it while
    its probability stays above threshold - margin, and a new angle needs threshold + margin."""
    angles = np.asarray(probability.columns, dtype=object)
    p = probability.to_numpy(dtype=np.float64)
    best = p.argmax(axis=1)
    best_p = p[np.arange(len(p)), best]
    label = np.where(best_p >= settings.angle_threshold, angles[best], "mixed").astype(object)
    if previous is None:
        return label
    column = {angle: i for i, angle in enumerate(angles)}
    before = np.array([column.get(angle, -1) for angle in previous], dtype=np.int64)
    before_p = np.where(before >= 0, p[np.arange(len(p)), np.maximum(before, 0)], np.nan)
    keep = (before >= 0) & (before_p >= settings.angle_threshold - settings.angle_margin)
    was_mixed = np.array([angle == "mixed" for angle in previous])
    enter = best_p >= settings.angle_threshold + settings.angle_margin
    label = np.where(keep, angles[np.maximum(before, 0)], label)
    # leaving "mixed" for an angle, or one angle for another, needs the higher bar
    switch = ~keep & (label != "mixed") & ((before >= 0) | was_mixed) & ~enter
    return np.where(switch, "mixed", label).astype(object)


def assign_value(
    expected_value: np.ndarray, settings: MicroSegmentSettings, previous: np.ndarray | None = None
) -> tuple[np.ndarray, float | None]:
    """prospect (no value row: NaN), customer, or high_value (top share by expected value, with the
    margin on log value); and the cut-off in value units."""
    is_customer = ~np.isnan(expected_value)
    labels = np.full(len(expected_value), "prospect", dtype=object)
    if not is_customer.any():
        return labels, None
    log_value = np.log(np.maximum(expected_value, 1e-9))
    cut = float(np.quantile(log_value[is_customer], 1 - settings.high_value_share))
    band = Band("log_expected_value", (cut,), ("customer", "high_value"), settings.value_margin)
    prev = None if previous is None else np.where(np.asarray(previous) == "prospect", "", previous)
    customer_band = assign_band(np.where(is_customer, log_value, 0.0), band, prev)
    return np.where(is_customer, customer_band, labels).astype(object), float(np.exp(cut))


def merge_cells(
    bands: pd.DataFrame, min_contacts: int, previous_segments: set[str], keep_fraction: float
) -> np.ndarray:
    """The segment id of each contact: its full cell when big enough, else the cell with the
    dimensions of ``MERGE_ORDER`` given up one at a time (only the contacts not yet placed count
    towards a coarser cell), else ``everyone_else``. After a first run, a segment of the previous
    run needs only ``keep_fraction`` of ``min_contacts`` and a new one ``2 - keep_fraction`` of it."""

    def hurdle(segment_id: str) -> float:
        if not previous_segments:
            return 1.0
        return keep_fraction if segment_id in previous_segments else 2.0 - keep_fraction

    keys = bands[list(DIMENSIONS)].astype(str).copy()
    segment = np.full(len(keys), None, dtype=object)
    for level in range(len(MERGE_ORDER) + 1):
        for dimension in MERGE_ORDER[:level]:
            keys[dimension] = np.where(keys[dimension] == ANY, ANY, OTHER)
        ids = (
            keys["recency"] + "/" + keys["click_level"] + "/" + keys["value"] + "/" + keys["angle"]
        ).to_numpy(dtype=object)
        open_rows = segment == None  # noqa: E711 (elementwise)
        counts = pd.Series(ids[open_rows]).value_counts()
        needed = pd.Series(
            {i: min_contacts * hurdle(i) for i in counts.index},
            dtype=np.float64,
        )
        big = set(counts.index[counts.to_numpy() >= needed.reindex(counts.index).to_numpy()])
        take = open_rows & np.isin(ids, list(big))
        segment[take] = ids[take]
    segment[segment == None] = EVERYONE_ELSE  # noqa: E711
    return segment


_RECENCY_WORDS = {"recent": "Recent", "lapsing": "Lapsing", "dormant": "Dormant"}
_CLICK_WORDS = {"heavy": "heavy clickers", "average": "average clickers", "light": "light clickers"}
_VALUE_WORDS = {"high_value": "high predicted value", "customer": "customers", "prospect": "no purchase yet"}


def segment_name(segment_id: str) -> str:
    """``recent/heavy/high_value/how_to`` -> "Recent heavy clickers, high predicted value, prefer how to"."""
    if segment_id == EVERYONE_ELSE:
        return "Everyone else"
    recency, click, value, angle = segment_id.split("/")
    words = _RECENCY_WORDS.get(recency, recency.capitalize())
    words += " " + _CLICK_WORDS.get(click, "contacts")
    parts = [words]
    if value in _VALUE_WORDS:
        parts.append(_VALUE_WORDS[value])
    if angle == "mixed":
        parts.append("no clear content preference")
    elif angle not in (OTHER, ANY):
        parts.append(f"prefer {angle.replace('_', ' ')}")
    return ", ".join(parts)


def describe(profile: pd.Series) -> str:
    """One sentence from the segment's numbers."""
    parts = [f"{profile['segment_name']}: {int(profile['contacts']):,} contacts"]
    # the number of sends says how much of the click level is the contact's own evidence
    parts.append(
        f"click {profile['click_rate_vs_account']:.1f}x the account (a median {profile['median_sends']:.0f} sends)"
    )
    if not pd.isna(profile["median_days_since_engagement"]):
        parts.append(f"last engaged a median {profile['median_days_since_engagement']:.0f} days ago")
    else:
        parts.append("never engaged")
    angle = str(profile["segment_id"]).split("/")[-1]
    if not pd.isna(profile["top_angle"]) and angle in (OTHER, "mixed", EVERYONE_ELSE):
        top = str(profile["top_angle"]).replace("_", " ")
        parts.append(f"most lean to {top} ({profile['top_angle_share']:.0%})")
    if profile["customer_share"] > 0:
        parts.append(
            f"{profile['customer_share']:.0%} customers, expected value {profile['mean_expected_value']:,.0f} "
            "per customer"
        )
    return "; ".join(parts) + "."


@dataclass
class Features:
    """One row per contact: the features and their bands (before merging)."""

    frame: pd.DataFrame
    account_click_rate: float
    features_used: tuple[str, ...]


def build_features(
    engagement: pd.DataFrame,
    angle_probability: pd.DataFrame | None,
    expected_value: pd.Series | None,
    previous: pd.DataFrame | None,
    settings: MicroSegmentSettings,
) -> Features:
    """``engagement`` from :func:`load_engagement`; ``angle_probability``: contact_id x angle
    probability_best (None: no content affinity); ``expected_value`` by contact_id (None: no
    scores); ``previous``: the previous run's rows (contact_id and the band columns) or None."""
    frame = engagement.reset_index(drop=True).copy()
    rate, account = shrunk_click_rate(frame, settings)
    frame["click_rate"] = rate
    frame["click_rate_vs_account"] = rate / account
    before = None
    if previous is not None and len(previous):
        before = previous.set_index("contact_id").reindex(frame["contact_id"]).reset_index(drop=True)

    def prior(column: str) -> np.ndarray | None:
        return None if before is None else before[column].fillna("").to_numpy(dtype=object)

    days = frame["days_since_engagement"].fillna(np.inf).to_numpy(dtype=np.float64)
    frame["recency"] = assign_band(days, settings.recency, prior("recency"))
    frame["click_level"] = assign_band(np.log(rate / account), settings.click_level, prior("click_level"))
    used = ["recency", "click_level"]
    if angle_probability is not None and len(angle_probability):
        probability = angle_probability.reindex(frame["contact_id"])
        known = probability.notna().all(axis=1).to_numpy()
        labels = assign_angle(probability.fillna(0.0), settings, prior("angle"))
        frame["angle"] = np.where(known, labels, "mixed")
        filled = probability.fillna(0.0).to_numpy(dtype=np.float64)
        angles = np.asarray(probability.columns, dtype=object)
        frame["preferred_angle"] = np.where(known, angles[filled.argmax(axis=1)], None)
        frame["preferred_probability"] = np.where(known, filled.max(axis=1), np.nan)
        used.append("angle")
    else:
        frame["angle"], frame["preferred_angle"], frame["preferred_probability"] = ANY, None, np.nan
    if expected_value is not None:
        value = expected_value.reindex(frame["contact_id"]).to_numpy(dtype=np.float64)
        frame["value"], _ = assign_value(value, settings, prior("value"))
        frame["expected_value"] = value
        used.append("value")
    else:
        frame["value"], frame["expected_value"] = ANY, np.nan
    return Features(frame=frame, account_click_rate=account, features_used=tuple(used))


def segment_contacts(
    features: Features, previous: pd.DataFrame | None, settings: MicroSegmentSettings
) -> pd.DataFrame:
    """Each contact's segment id and name, from its bands and the previous run's segments."""
    frame = features.frame.copy()
    min_contacts = max(settings.min_segment_contacts, math.ceil(settings.min_segment_share * len(frame)))
    existing = set() if previous is None else set(previous["segment_id"].dropna().unique())
    frame["segment_id"] = merge_cells(frame, min_contacts, existing, settings.keep_fraction)
    names = {segment: segment_name(segment) for segment in frame["segment_id"].unique()}
    frame["segment_name"] = frame["segment_id"].map(names)
    return frame


def profile_segments(segmented: pd.DataFrame, account_click_rate: float) -> pd.DataFrame:
    """One row per segment: its size and what its members look like, with a description."""
    grouped = segmented.groupby("segment_id", sort=True)
    profiles = grouped.agg(
        segment_name=("segment_name", "first"),
        contacts=("contact_id", "size"),
        median_sends=("n_sends", "median"),
        click_rate=("click_rate", "mean"),
        median_days_since_engagement=("days_since_engagement", "median"),
        customer_share=("expected_value", lambda v: float(v.notna().mean())),
        mean_expected_value=("expected_value", "mean"),
    ).reset_index()
    profiles["share_of_contacts"] = profiles["contacts"] / len(segmented)
    profiles["click_rate_vs_account"] = profiles["click_rate"] / account_click_rate
    top = (
        segmented.dropna(subset=["preferred_angle"])
        .assign(clear=lambda f: f["angle"] == f["preferred_angle"])
        .groupby(["segment_id", "preferred_angle"])["clear"]
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["segment_id", "n", "preferred_angle"], ascending=[True, False, True])
        .drop_duplicates("segment_id")
        .set_index("segment_id")
    )
    profiles["top_angle"] = profiles["segment_id"].map(top["preferred_angle"]) if len(top) else None
    profiles["top_angle_share"] = (
        profiles["segment_id"].map(top["n"]) / profiles["contacts"] if len(top) else np.nan
    )
    profiles["description"] = profiles.apply(describe, axis=1)
    return profiles.sort_values(["contacts", "segment_id"], ascending=[False, True]).reset_index(drop=True)


def load_previous(con: Any, before: date) -> pd.DataFrame | None:
    """The latest run of ``results.micro_segments`` dated before ``before``."""
    if not table_exists(con, "results", TABLE):
        return None
    rows = con.execute(
        f"select contact_id, segment_id, {', '.join(DIMENSIONS)} from results.{TABLE} "
        f"where analysis_date = (select max(analysis_date) from results.{TABLE} where analysis_date < ?)",
        [before],
    ).df()
    return rows if len(rows) else None


CONTACT_COLUMNS = (
    "analysis_timestamp", "analysis_date", "contact_id", "segment_id", "segment_name", "recency",
    "click_level", "value", "angle", "days_since_engagement", "n_sends", "n_clicks", "click_rate",
    "click_rate_vs_account", "preferred_angle", "preferred_probability", "expected_value",
    "previous_segment_id",
)  # fmt: skip
PROFILE_COLUMNS = (
    "analysis_timestamp", "analysis_date", "segment_id", "segment_name", "description", "contacts",
    "share_of_contacts", "median_sends", "click_rate", "click_rate_vs_account", "median_days_since_engagement",
    "top_angle", "top_angle_share", "customer_share", "mean_expected_value", "contacts_moved_in",
)  # fmt: skip


def run_micro_segments(
    con: Any, settings: MicroSegmentSettings, now: datetime, as_of_date: date | None = None
) -> MicroSegmentRun:
    """Segment every contact with a delivered send up to ``as_of_date`` (default: the newest send)
    and write ``results.micro_segments`` and ``results.micro_segment_profiles`` (a re-run for the
    same analysis date replaces its rows; the previous date's rows are the hysteresis's memory)."""
    for table in (TABLE, PROFILES_TABLE):  # present (empty) before there is anything to segment
        ensure_results_table(con, table)
    as_of_date = as_of_date or newest_send_day(con)
    if as_of_date is None:
        return MicroSegmentRun(rows=0, segments=0, analysis_date=None)
    engagement = load_engagement(con, end_of(as_of_date), settings.half_life_days, settings.lookback_days)
    if not len(engagement):
        return MicroSegmentRun(rows=0, segments=0, analysis_date=as_of_date)
    previous = load_previous(con, as_of_date)
    features = build_features(
        engagement, load_angle_probability(con), load_expected_value(con), previous, settings
    )
    segmented = segment_contacts(features, previous, settings)
    segmented["previous_segment_id"] = (
        segmented["contact_id"].map(previous.set_index("contact_id")["segment_id"])
        if previous is not None
        else None
    )
    profiles = profile_segments(segmented, features.account_click_rate)
    was = segmented["previous_segment_id"]
    moved_in = segmented[was.notna() & (was != segmented["segment_id"])].groupby("segment_id").size()
    profiles["contacts_moved_in"] = profiles["segment_id"].map(moved_in).fillna(0).astype(np.int64)
    stamp = {"analysis_timestamp": now, "analysis_date": as_of_date}
    write_results(
        con, TABLE, segmented.assign(**stamp)[list(CONTACT_COLUMNS)], replace_where=("analysis_date",)
    )
    write_results(
        con, PROFILES_TABLE, profiles.assign(**stamp)[list(PROFILE_COLUMNS)], replace_where=("analysis_date",)
    )
    return MicroSegmentRun(
        rows=len(segmented),
        segments=len(profiles),
        analysis_date=as_of_date,
        moved=int((was.notna() & (was != segmented["segment_id"])).sum()),
        previous_contacts=int(was.notna().sum()),
        features_used=features.features_used,
        sizes=dict(zip(profiles["segment_id"], profiles["contacts"].astype(int), strict=True)),
    )


def segment_members(con: Any, segment_id: str, analysis_date: date | None = None) -> list[str]:
    """The contacts of a segment in the latest run (or the run of ``analysis_date``): the audience
    a targeted send or a test restricted to the segment uses."""
    day = analysis_date or con.execute(f"select max(analysis_date) from results.{TABLE}").fetchone()[0]
    rows = con.execute(
        f"select contact_id from results.{TABLE} where analysis_date = ? and segment_id = ? order by contact_id",
        [day, segment_id],
    ).fetchall()
    return [contact_id for (contact_id,) in rows]
