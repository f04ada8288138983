"""The catalogue of monitored metrics: how each one is judged and which family it belongs to.

``kind`` decides the noise model the detector uses:

- ``rate``: a share in 0..1 with a denominator (opens / delivered); binomial noise.
- ``ratio``: a non-share ratio with a denominator (CPC = spend / clicks); noise shrinks with
  the square root of the denominator.
- ``count``: events per period (orders, leads); Poisson noise floor.
- ``amount``: money or other non-negative totals (revenue, spend).
- ``value``: anything else; no assumptions beyond robust statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("rate", "ratio", "count", "amount", "value")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str
    family: str  # email_engagement, email_deliverability, conversions, traffic, spend, crm, data_health
    label: str
    bad_directions: tuple[str, ...] = ("spike", "drop")  # anomalies the other way are capped at info
    # Directions that may page (critical); other bad directions are capped at warning.
    page_directions: tuple[str, ...] | None = None
    # An anomaly is critical only if the observed value is at least this (e.g. a day's silence).
    critical_at_least: float | None = None
    # A pooled rate (one series for a whole channel; its baseline is a ratio of sums, without a
    # weekday pattern) judged by the exact binomial tail of its count instead of the z thresholds
    # meant for hundreds of series: critical when the one-sided tail probability is below this,
    # warning below 5x, info below 20x. One test a day at 0.005 costs about 0.035 false pages a
    # week of the pager's budget (at most one a week).
    pooled_alpha: float | None = None

    def may_page(self, direction: str) -> bool:
        return direction in (self.bad_directions if self.page_directions is None else self.page_directions)


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("delivered_rate", "rate", "email_deliverability", "delivered rate", ("drop",)),
        MetricSpec("bounce_rate", "rate", "email_deliverability", "bounce rate", ("spike",)),
        MetricSpec("spam_rate", "rate", "email_deliverability", "spam complaint rate", ("spike",)),
        MetricSpec("open_rate", "rate", "email_engagement", "open rate", ("drop",)),
        # Privacy-proxy opens fire on delivery whatever the content: when they fall, tracking broke.
        MetricSpec(
            "machine_open_rate", "rate", "email_engagement", "machine (privacy-proxy) open rate", ("drop",)
        ),
        MetricSpec("click_rate", "rate", "email_engagement", "click rate", ("drop",)),
        MetricSpec("unsubscribe_rate", "rate", "email_engagement", "unsubscribe rate", ("spike",)),
        MetricSpec("orders", "count", "conversions", "orders", ("drop",)),
        MetricSpec("revenue", "amount", "conversions", "revenue", ("drop",)),  # one big order is good news
        MetricSpec("conversions", "count", "conversions", "conversions", ("drop",)),
        MetricSpec("conversion_rate", "rate", "conversions", "conversion rate", ("drop",)),
        # Email orders per click over all streams: a broken landing page or checkout.
        MetricSpec(
            "orders_per_click",
            "rate",
            "conversions",
            "orders per email click",
            ("drop",),
            pooled_alpha=0.02,  # about 0.14 false pages a week at demo volume, inside one a week
        ),
        MetricSpec("roas", "ratio", "conversions", "ROAS", ("drop",)),
        MetricSpec("clicks", "count", "traffic", "clicks"),
        MetricSpec("impressions", "count", "traffic", "impressions"),
        MetricSpec("ctr", "rate", "traffic", "click-through rate"),
        MetricSpec("spend", "amount", "spend", "ad spend", page_directions=("spike",)),
        MetricSpec("cpc", "ratio", "spend", "cost per click", ("spike",)),
        MetricSpec("cpm", "ratio", "spend", "cost per thousand impressions", ("spike",)),
        MetricSpec("crm_leads", "count", "crm", "new CRM leads", ("drop",)),
        MetricSpec("crm_stage_changes", "count", "crm", "CRM lifecycle stage changes", ("drop",)),
        MetricSpec("deals_created", "count", "crm", "deals created", ("drop",)),
        MetricSpec("deals_won", "count", "crm", "deals won", ("drop",)),
        MetricSpec("events", "count", "data_health", "records received", ("drop",)),
        MetricSpec(
            "freshness_lag_hours",
            "value",
            "data_health",
            "hours since the newest record",
            ("spike",),
            critical_at_least=24.0,
        ),
    )
}


def metric_spec(metric: str) -> MetricSpec:
    """The spec for ``metric``; unknown metrics are generic values in their own family."""
    return METRICS.get(metric, MetricSpec(metric, "value", "other", metric.replace("_", " ")))


def metric_kind(metric: str) -> str:
    return metric_spec(metric).kind
