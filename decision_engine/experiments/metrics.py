"""What an experiment measures: one definition per metric, shared by SQL and statistics.

Three kinds of metric:

* ``proportion`` - a per-unit 0/1 outcome (conversion, unsubscribe); z test.
* ``mean`` - a per-unit number (revenue per recipient); Welch t test.
* ``ratio`` - a ratio of two per-unit sums (clicks / delivered); delta method, because
  the denominator varies between units and the unit is what was randomised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["proportion", "mean", "ratio"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: a column (numerator) and for ratio metrics a denominator column."""

    name: str
    kind: MetricKind
    numerator: str
    denominator: str | None = None
    higher_is_better: bool = True
    is_guardrail: bool = False
    winsorize: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind == "ratio" and not self.denominator:
            raise ValueError(f"ratio metric {self.name!r} needs a denominator column")
        if self.kind != "ratio" and self.denominator:
            raise ValueError(f"only ratio metrics take a denominator ({self.name!r})")

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ")


#: Metrics read from ``marts.fct_experiment_exposures`` (docs/contracts.md section 3).
DEFAULT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("open_rate", "ratio", "is_opened", "is_delivered", label="opens (incl. machine opens)"),
    MetricSpec("human_open_rate", "ratio", "is_human_opened", "is_delivered", label="human opens"),
    MetricSpec("click_rate", "ratio", "is_clicked", "is_delivered", label="clicks"),
    MetricSpec("conversion_rate", "proportion", "is_converted", label="conversions"),
    MetricSpec("revenue_per_recipient", "mean", "revenue", winsorize=True, label="revenue per recipient"),
    MetricSpec("mql_rate", "proportion", "became_mql", label="MQLs"),
    MetricSpec("deal_created_rate", "proportion", "deal_created", label="deals created"),
    MetricSpec("won_revenue_per_recipient", "mean", "won_revenue", winsorize=True, label="won deal revenue"),
    MetricSpec(
        "unsubscribe_rate",
        "proportion",
        "is_unsubscribed",
        higher_is_better=False,
        is_guardrail=True,
        label="unsubscribes",
    ),
    MetricSpec(
        "spam_complaint_rate",
        "proportion",
        "is_spam_complaint",
        higher_is_better=False,
        is_guardrail=True,
        label="spam complaints",
    ),
    MetricSpec(
        "bounce_rate", "proportion", "is_bounced", higher_is_better=False, is_guardrail=True, label="bounces"
    ),
)

#: Order revenue attributed to the send plus, for recipients who ordered, their expected future
#: value (``results.customer_value``). Not a mart column: the experiments run adds it when the
#: scores exist (``decision_engine.experiments.customer_value``).
CUSTOMER_VALUE_PER_RECIPIENT = MetricSpec(
    "customer_value_per_recipient",
    "mean",
    "customer_value",
    winsorize=True,
    label="customer value per recipient",
)

DEFAULT_PRIMARY_METRIC = "click_rate"

_GUARDRAIL_WORDS = ("unsub", "spam", "complaint", "bounce", "churn", "refund")


def looks_like_guardrail(name: str) -> bool:
    """Heuristic for ad-hoc metrics (CLI): names about harm are guardrails, lower is better."""
    lowered = name.lower()
    return any(word in lowered for word in _GUARDRAIL_WORDS)
