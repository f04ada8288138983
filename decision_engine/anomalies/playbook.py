"""What each incident type means in plain English: title, likely cause, options.

Options may name ``{table}`` (data incidents about one table); :func:`Playbook.options_for`
fills it in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Playbook:
    title: str
    likely_cause: str
    options: tuple[str, ...]
    data_incident: bool = False

    def options_for(self, **values: str) -> list[str]:
        return [option.format(**values) for option in self.options]


PLAYBOOKS: dict[str, Playbook] = {
    "esp_tracking": Playbook(
        "Email tracking outage",
        "Opens and clicks dropped across several email streams at once, which points at the "
        "ESP's open/click tracking (tracking domain, pixel or link wrapping) rather than at the content.",
        (
            "check the ESP status page and the tracking domain",
            "pause automated winner selection and send-time changes until tracking recovers",
            "do not judge A/B tests on the affected days",
        ),
    ),
    "email_engagement_drop": Playbook(
        "Email engagement drop",
        "Engagement fell on one email stream only: a content, audience or link problem in that stream.",
        (
            "review the latest message and its links",
            "check the audience segment",
            "pause the stream if links are broken",
        ),
    ),
    "deliverability": Playbook(
        "Email deliverability problem",
        "Bounces or spam complaints rose (or deliveries fell): a list-quality, sender reputation or "
        "authentication (SPF/DKIM/DMARC) problem.",
        (
            "pause sends",
            "check the sending domain's reputation and authentication",
            "suppress recent bounces and review list sources",
        ),
    ),
    "runaway_spend": Playbook(
        "Runaway ad spend",
        "Spend or cost per result jumped on one ad: a budget or bid change, or the platform pacing out of control.",
        (
            "pause the ad or cap its daily budget",
            "check recent budget and bid changes",
            "compare with the platform's billing view",
        ),
    ),
    "conversion_tracking": Playbook(
        "Conversions dropped while traffic held",
        "Clicks look normal but conversions (orders, revenue, ROAS) fell: a broken landing page, "
        "checkout or conversion pixel.",
        (
            "check the landing page and checkout",
            "check the pixel / conversion tag fires",
            "hold budget reallocation until tracking is confirmed",
        ),
    ),
    "traffic_drop": Playbook(
        "Traffic and conversions dropped together",
        "Clicks and conversions fell together: delivery or audience reach changed upstream.",
        ("check campaign delivery status", "check audience and budget settings"),
    ),
    "crm_sync_stall": Playbook(
        "CRM sync stall",
        "CRM updates (new leads, stage changes, deals) stopped or collapsed: the CRM sync or its credentials are failing.",
        (
            "check the CRM connector's last successful sync",
            "check API credentials and rate limits",
            "backfill once the sync recovers",
        ),
    ),
    "data_source_health": Playbook(
        "Data source health problem",
        "A source delivered far fewer records than usual, none at all, or stale data: an ingestion problem, not a marketing change.",
        (
            "check the ingestion run logs for the source",
            "check the vendor API status",
            "do not act on marketing metrics from this source until it recovers",
        ),
        data_incident=True,
    ),
    "data_quarantine": Playbook(
        "Ad data quarantined",
        "The ad platform sent records the loader rejected (a negative spend, a malformed date or id), so "
        "they were quarantined instead of loaded: the metrics of those ad-days are unknown, not zero.",
        (
            "check the source's quarantine table for the reason and the raw record",
            "re-pull the days once the vendor corrects the data (a later valid load replaces the quarantine)",
            "do not read the gap as a spend or traffic drop; budget decisions leave those days out",
        ),
        data_incident=True,
    ),
    "data_quality_gate": Playbook(
        "Data quality gate failed",
        "Bad or incomplete data from the source, or a change in its schema.",
        (
            "Inspect the failing expectations on {table} in the Dagster UI",
            "Check the source's quarantine table and the vendor's status page",
            "Decisions downstream of this table are held until the gate passes",
        ),
        data_incident=True,
    ),
    "pipeline_run_failure": Playbook(
        "Loopwise run failed",
        "A step of the run raised an error: a source unreachable or refusing credentials, a failed "
        "build, or a bug. Data and decisions downstream of the failed step were not refreshed.",
        (
            "Open run {run_id} of {job} in the Dagster UI and read the failed step's error",
            "Re-execute the run from the failure once the cause is fixed",
            "Treat results from before this run as the latest until a run succeeds",
        ),
        data_incident=True,
    ),
    "metric_anomaly": Playbook(
        "Unexplained metric anomaly",
        "A metric moved far outside its usual range in a pattern the system cannot interpret.",
        ("review the chart and recent changes", "decide whether to pause related automation"),
    ),
}
