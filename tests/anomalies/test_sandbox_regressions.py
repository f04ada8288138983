"""Regressions found by replaying detection on sandbox worlds (benchmarks/anomalies_sandbox_eval.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_series import _marts

from decision_engine.anomalies import build_series, detect, group_incidents


def test_a_daily_series_with_gaps_stays_daily() -> None:
    # Campaigns go out three days a week: the median step is two days, the series is still daily.
    days = pd.date_range("2024-01-01", periods=84, freq="D")
    days = days[days.day_of_week.isin([0, 2, 4])]
    rng = np.random.default_rng(1)
    n = rng.integers(500, 5000, len(days)).astype(float)
    frame = pd.DataFrame(
        {
            "series_id": "campaigns",
            "timestamp": days,
            "metric": "bounce_rate",
            "value": rng.binomial(n.astype(int), 0.012) / n,
            "denominator": n,
        }
    )
    frame.loc[frame.index[-1], "value"] = 0.17
    out = detect(frame)
    assert out["history_points"].iloc[-1] == len(days) - 1  # no two sends merged into one slot
    assert out["severity"].iloc[-1] == "critical"


def test_a_missing_count_is_not_a_zero() -> None:
    values = np.full(60, 40.0)
    values[-7:] = np.nan
    out = detect(
        pd.DataFrame(
            {
                "series_id": "c",
                "metric": "conversions",
                "value": values,
                "timestamp": pd.date_range("2024-01-01", periods=60, freq="D"),
            }
        )
    )
    assert not out["is_anomaly"].any()


def test_a_silent_crm_runs_to_the_newest_day_and_young_conversions_carry_their_maturity() -> None:
    con = _marts(60)
    con.execute("delete from marts.fct_crm_funnel where transitioned_at >= timestamp '2024-02-25'")
    con.execute("delete from marts.fct_deals where created_at >= timestamp '2024-02-25'")
    con.execute("update marts.fct_deals set closed_at = null where closed_at >= timestamp '2024-02-25'")
    series = build_series(con)
    last = series["timestamp"].max()
    crm_events = series[series["series_id"] == "source:crm:events"].set_index("timestamp")["value"]
    assert crm_events.index.max() == last and (crm_events["2024-02-25":] == 0).all()
    lag = series[series["metric"] == "freshness_lag_hours"].set_index("timestamp")["value"]
    assert lag[last] > 24 * 4
    # ad conversions are still being attributed for a week: the young days carry their maturity
    # (no snapshots here: the assumed curve), the older ones are final
    conversions = series[series["series_id"] == "ad:meta:meta1:conversions"].set_index("timestamp")
    young, final = conversions[last - pd.Timedelta(days=5) :], conversions[: last - pd.Timedelta(days=6)]
    assert young["value"].notna().all() and young["maturity"].between(0.3, 0.99).all()
    assert final["value"].notna().all() and final["maturity"].isna().all()
    incidents = group_incidents(detect(series))
    stall = [i for i in incidents if i.incident_type == "crm_sync_stall" and i.status == "open"]
    assert stall and stall[0].severity == "critical"
    assert not [i for i in incidents if i.incident_type == "conversion_tracking" and i.status == "open"]


def test_spend_drops_and_short_quiet_spells_do_not_page() -> None:
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    rng = np.random.default_rng(3)
    spend = 150 * rng.lognormal(0, 0.05, 40)
    spend[-1] = 0.0  # a quarantined row read as zero
    lag = np.abs(rng.normal(1.0, 0.3, 40))
    lag[-1] = 11.0  # eleven quiet hours in a sparse CRM
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "series_id": "ad:meta:1:spend",
                    "entity_type": "ad",
                    "entity_id": "meta:1",
                    "source": "ads:meta",
                    "metric": "spend",
                    "timestamp": days,
                    "value": spend,
                }
            ),
            pd.DataFrame(
                {
                    "series_id": "source:crm:freshness_lag_hours",
                    "entity_type": "source",
                    "entity_id": "crm",
                    "source": "crm",
                    "metric": "freshness_lag_hours",
                    "timestamp": days,
                    "value": lag,
                }
            ),
        ],
        ignore_index=True,
    )
    verdicts = detect(frame)
    assert verdicts.groupby("series_id")["severity"].last().eq("critical").all()  # the detector sees both
    incidents = group_incidents(verdicts)
    assert incidents and all(i.severity == "warning" for i in incidents)
