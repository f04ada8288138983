"""Lead scores: nothing after the prediction date enters the features, the time splits never
judge a model on outcomes it saw, and the calibrated probabilities track a known truth."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from decision_engine.scores.lead_features import (
    ENGAGEMENT_DAYS,
    FEATURES,
    LIFECYCLE_ORDER,
    NEVER_CLICKED_DAYS,
    OPPORTUNITY_STAGE,
    SOURCES,
    CrmHistory,
    features_as_of,
    outcomes,
)
from decision_engine.scores.leads import (
    LeadScoreSettings,
    area_under_curve,
    expected_calibration_error,
    score_leads,
    tiers,
    top_decile_lift,
)

START = datetime(2024, 1, 1)


def synthetic_history(n: int = 4000, days: int = 540, seed: int = 3) -> tuple[CrmHistory, pd.Series]:
    """Leads created over ``days``; each gets a deal after an exponential wait with a probability set
    by a hidden propensity that the source reveals in part. Clicks come one day after a deal."""
    g = np.random.default_rng(seed)
    created = pd.to_datetime(START) + pd.to_timedelta(g.uniform(0, days, n), unit="D")
    source = g.integers(0, len(SOURCES), n)
    propensity = np.clip(0.05 + 0.1 * source + g.normal(0, 0.05, n), 0.01, 0.9)
    has_deal = g.random(n) < propensity
    deal_at = created + pd.to_timedelta(g.exponential(20, n), unit="D")
    ids = [f"c{i}" for i in range(n)]
    transitions = pd.DataFrame(
        {
            "contact_id": ids,
            "to_stage": "lead",
            "transitioned_at": created,
            "analytics_source": [SOURCES[s] for s in source],
        }
    )
    deals = pd.DataFrame({"contact_id": np.array(ids)[has_deal], "created_at": deal_at[has_deal]})
    sends = pd.DataFrame(
        {
            "contact_id": ids,
            "sent_at": created + pd.Timedelta(hours=1),
            "is_delivered": True,
            "first_opened_at": pd.NaT,
            "first_clicked_at": np.where(has_deal, deal_at + pd.Timedelta(days=1), pd.NaT),
        }
    )
    sends["first_clicked_at"] = pd.to_datetime(sends["first_clicked_at"])
    return CrmHistory(transitions=transitions, sends=sends, deals=deals), pd.Series(propensity, index=ids)


@pytest.fixture(scope="module")
def history() -> tuple[CrmHistory, pd.Series]:
    return synthetic_history()


def test_events_after_the_prediction_date_cannot_change_the_features(history):
    crm, _ = history
    as_of = START + timedelta(days=300)
    before = features_as_of(crm, as_of)
    later = as_of + timedelta(hours=1)
    someone = before.index[0]
    future = CrmHistory(
        transitions=pd.concat(
            [
                crm.transitions,
                pd.DataFrame(
                    [
                        {
                            "contact_id": someone,
                            "to_stage": "salesqualifiedlead",
                            "transitioned_at": later,
                            "analytics_source": "REFERRALS",
                        }
                    ]
                ),
            ]
        ),  # fmt: skip
        sends=pd.concat(
            [
                crm.sends,
                pd.DataFrame(
                    [
                        {
                            "contact_id": someone,
                            "sent_at": as_of - timedelta(days=1),
                            "is_delivered": True,
                            "first_opened_at": later,
                            "first_clicked_at": later,
                        }
                    ]
                ),
            ]
        ),  # fmt: skip
        deals=pd.concat([crm.deals, pd.DataFrame([{"contact_id": someone, "created_at": later}])]),
    )
    after = features_as_of(future, as_of)
    # the email sent before the date counts as delivered; its open and click after the date do not
    assert after.loc[someone, "emails_delivered_30d"] == before.loc[someone, "emails_delivered_30d"] + 1
    after.loc[someone, "emails_delivered_30d"] -= 1
    pd.testing.assert_frame_equal(before, after)
    # the deal after the date is an outcome, not a reason to leave the population
    assert outcomes(future, pd.Index([someone]), as_of, 90)[0] == 1


def test_clicks_that_only_follow_deals_never_reach_an_open_contact(history):
    crm, _ = history
    for day in range(60, 540, 30):
        features = features_as_of(crm, START + timedelta(days=day))
        assert (features["emails_clicked_30d"] == 0).all()
        assert (features["days_since_last_click"] == NEVER_CLICKED_DAYS).all()


def test_probabilities_are_calibrated_and_rank_like_the_truth(history):
    crm, propensity = history
    as_of = START + timedelta(days=540)
    scores = score_leads(crm, as_of, LeadScoreSettings(window_days=90, snapshot_every_days=14))
    report = scores.report
    assert report.validated_at == as_of - timedelta(days=90)
    assert report.training_snapshots > 0
    assert report.auc > 0.6 and report.calibration_error < 0.05
    validated = features_as_of(crm, report.validated_at)
    truth_auc = area_under_curve(
        propensity.reindex(validated.index).to_numpy(),
        outcomes(crm, validated.index, report.validated_at, 90),
    )
    assert report.auc > truth_auc - 0.1  # close to what the hidden propensity itself achieves
    assert scores.scores["probability"].between(0, 1).all()
    assert set(scores.scores["tier"]) <= {"A", "B", "C", "D"}


def test_metrics_on_known_inputs():
    outcome = np.array([0, 0, 0, 1, 1] * 20)
    perfect = outcome + 0.0
    assert area_under_curve(perfect, outcome) == 1.0
    assert expected_calibration_error(perfect, outcome) == 0.0
    assert top_decile_lift(perfect, outcome) == pytest.approx(1 / 0.4)
    assert expected_calibration_error(np.full(100, 0.4), outcome) == pytest.approx(0.0, abs=1e-12)


def test_tiers_follow_rank_and_ties_share_the_lower_tier():
    probability = np.linspace(1, 0, 100)
    got = tiers(probability)
    assert list(pd.Series(got).value_counts().sort_index()) == [10, 20, 30, 40]
    assert set(tiers(np.zeros(50))) == {"D"}


def _features_by_scanning(history: CrmHistory, cut: pd.Timestamp) -> pd.DataFrame:
    """The features at ``cut`` by masking every table (the obvious way), to check the sliced one."""
    rows = {}
    for contact, own in history.transitions[history.transitions["transitioned_at"] <= cut].groupby(
        "contact_id"
    ):
        own = own.sort_values("transitioned_at")
        stage = float(LIFECYCLE_ORDER.get(own["to_stage"].iloc[-1], 0))
        has_deal = ((history.deals["contact_id"] == contact) & (history.deals["created_at"] <= cut)).any()
        if stage >= OPPORTUNITY_STAGE or has_deal:
            continue
        sends = history.sends[history.sends["contact_id"] == contact]
        recent = sends[(sends["sent_at"] <= cut) & (sends["sent_at"] > cut - timedelta(days=ENGAGEMENT_DAYS))]
        clicked = sends.loc[sends["first_clicked_at"] <= cut, "first_clicked_at"]
        sources = own["analytics_source"].dropna()
        rows[contact] = {
            "stage_order": stage,
            "days_in_stage": (cut - own["transitioned_at"].iloc[-1]).total_seconds() / 86400,
            "days_since_created": (cut - own["transitioned_at"].iloc[0]).total_seconds() / 86400,
            "stages_passed": float(len(own)),
            "source_code": float(SOURCES.index(sources.iloc[-1]))
            if len(sources) and sources.iloc[-1] in SOURCES
            else -1.0,
            "emails_delivered_30d": float(recent["is_delivered"].sum()),
            "emails_opened_30d": float((recent["first_opened_at"] <= cut).sum()),
            "emails_clicked_30d": float((recent["first_clicked_at"] <= cut).sum()),
            "days_since_last_click": (cut - clicked.max()).total_seconds() / 86400
            if len(clicked)
            else NEVER_CLICKED_DAYS,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(FEATURES))
    frame.index.name = "contact_id"
    return frame.sort_index()


def test_features_sliced_in_time_order_equal_a_scan_of_every_table() -> None:
    """Sends in any order, some without a send time or a click; stages with a missing source."""
    g = np.random.default_rng(11)
    n, sends_n = 60, 3000
    contacts = [f"c{i}" for i in range(n)]
    stages = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "bogus"]

    def when(k: int) -> pd.Series:  # k distinct minutes in 200 days, in random order
        return pd.Series(pd.Timestamp(START) + pd.to_timedelta(g.permutation(200 * 1440)[:k], unit="min"))

    transitions = pd.DataFrame(
        {"contact_id": g.choice(contacts, 240), "to_stage": g.choice(stages, 240), "transitioned_at": when(240),
         "analytics_source": g.choice([*SOURCES, None], 240)}
    )  # fmt: skip
    sent = when(sends_n)
    sent = sent.mask(g.random(sends_n) < 0.02)
    opened = sent + pd.to_timedelta(g.uniform(0, 5, sends_n), unit="D")
    clicked = opened + pd.to_timedelta(g.uniform(0, 3, sends_n), unit="D")
    sends = pd.DataFrame(
        {"contact_id": g.choice(contacts, sends_n), "sent_at": sent, "is_delivered": g.random(sends_n) < 0.95,
         "first_opened_at": opened.where(g.random(sends_n) < 0.3), "first_clicked_at": clicked.where(g.random(sends_n) < 0.1)}
    )  # fmt: skip
    deals = pd.DataFrame({"contact_id": g.choice(contacts, 8), "created_at": when(8)})
    history = CrmHistory(transitions=transitions, sends=sends, deals=deals)
    checked = 0
    for day in (40, 90, 120, 150, 199):
        cut = pd.Timestamp(START) + timedelta(days=day, hours=7)
        expected = _features_by_scanning(history, cut)
        got = features_as_of(history, cut.to_pydatetime()).sort_index()
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=False, rtol=1e-9)
        checked += len(expected)
    assert checked > 100
