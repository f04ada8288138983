"""The whole scan without Dagster: marts in, results.anomaly_alerts, charts and numbers out."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from test_series import _marts

from decision_engine.anomalies.run import AnomalyScan, run_anomaly_scan


def test_run_anomaly_scan_writes_alerts_with_the_data_date(tmp_path: Path) -> None:
    con = _marts(60)
    now = pd.Timestamp("2024-03-05 06:00:00", tz="UTC").to_pydatetime()
    scan = run_anomaly_scan(con, now=now, report_dir=tmp_path / "reports")
    assert isinstance(scan, AnomalyScan)
    assert scan.analysis_date == date(2024, 3, 2)  # the newest day in the marts (deals close 3 days on)
    assert scan.series_monitored == scan.series["series_id"].nunique() > 0
    assert scan.points_scored == len(scan.verdicts)
    assert scan.incidents and sum(scan.by_status_severity.values()) == len(scan.incidents)
    assert scan.headline.startswith(f"{len(scan.open_incidents)} open incident(s) across")
    stored = con.execute(
        "select incident_id, analysis_date, analysis_timestamp from results.anomaly_alerts"
    ).df()
    assert len(stored) == scan.alert_rows == len(scan.alerts) > 0
    assert set(stored["incident_id"]) == {i.incident_id for i in scan.incidents}
    assert (stored["analysis_date"] == pd.Timestamp("2024-03-02")).all()
    assert len(scan.charts) == min(10, len(scan.open_incidents))
    assert all(Path(chart).exists() for chart in scan.charts)
    # a re-run replaces the rows of the same incidents instead of adding to them
    run_anomaly_scan(con, now=now)
    assert con.execute("select count(*) from results.anomaly_alerts").fetchone()[0] == len(stored)


def test_run_anomaly_scan_on_empty_marts_writes_nothing() -> None:
    con = _marts(60)
    for table in ("fct_email_sends", "fct_email_campaign_variant_daily", "fct_ad_performance_daily"):
        con.execute(f"delete from marts.{table}")
    con.execute("delete from marts.fct_crm_funnel")
    con.execute("delete from marts.fct_deals")
    scan = run_anomaly_scan(con, now=pd.Timestamp("2024-03-05", tz="UTC").to_pydatetime())
    assert scan.analysis_date is None and scan.incidents == [] and scan.alert_rows == 0
    assert scan.headline == "0 open incident(s) across 0 series"


def test_a_quarantined_ad_day_is_a_data_incident_not_a_spend_drop() -> None:
    con = _marts(60)
    day = "2024-02-20"
    con.execute(
        "update marts.fct_ad_performance_daily set spend = null, impressions = null, clicks = null, "
        f"conversions = null, conversions_value = null, is_quarantined = true "
        f"where ad_id = 'google1' and date_day = date '{day}'"
    )
    now = pd.Timestamp("2024-03-05 06:00:00", tz="UTC").to_pydatetime()
    scan = run_anomaly_scan(con, now=now)
    spend = scan.series[scan.series["series_id"] == "ad:google:google1:spend"].set_index("timestamp")["value"]
    assert pd.isna(spend[pd.Timestamp(day)])  # missing, not zero
    assert spend.drop(pd.Timestamp(day)).notna().all()
    platform = scan.series[scan.series["series_id"] == "ad_platform:google:spend"].set_index("timestamp")
    assert pd.isna(platform.loc[pd.Timestamp(day), "value"])  # the platform total is unknown too
    cpc = scan.series[scan.series["series_id"] == "ad:google:google1:cpc"]
    assert pd.Timestamp(day) not in set(cpc["timestamp"])
    on_day = [
        i
        for i in scan.incidents
        if i.window_start <= pd.Timestamp(day) <= i.window_end and "google1" in " ".join(i.entities)
    ]
    assert [i.incident_type for i in on_day] == ["data_quarantine"]
    incident = on_day[0]
    assert incident.is_data_incident and incident.status == "resolved"  # later days loaded cleanly
    assert incident.summary.startswith(
        "1 ad-day record(s) from google were quarantined at ingestion on 2024-02-20"
    )
    assert "unknown, not zero" in incident.summary
    rows = scan.alerts[scan.alerts["incident_id"] == incident.incident_id]
    assert list(rows["entity"]) == ["ad:google:google1"] and list(rows["incident_type"]) == [
        "data_quarantine"
    ]
