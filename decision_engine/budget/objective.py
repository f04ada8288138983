"""The budget's objective (policy ``budget.objective``): what an ad's attributed revenue is worth.

``platform_revenue`` (the default) takes each platform's attributed conversion value as reported.
``customer_value`` multiplies it, per platform, by what the customers that platform acquires are
expected to be worth over what they first paid::

    multiplier = sum(first order value + expected value over the horizon) / sum(first order value)

over the platform's customers, with ``expected_value`` from ``results.customer_value`` (latest
run), the first order from ``marts.fct_orders`` and the acquiring platform from the contact's
HubSpot original source (``PAID_SOCIAL`` -> Meta, ``PAID_SEARCH`` -> Google). The revenue series
is multiplied before the curves are fitted, so every revenue figure of the run is in expected
customer value. A platform with fewer than ``min_customers`` scored customers takes the pooled
multiplier of all scored customers (no shift either way); with none at all, or without the score
table, the run falls back to platform revenue and says so in its issues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from decision_engine.policy import BudgetObjective

MIN_CUSTOMERS = 30  # scored customers a platform needs for its own multiplier
# HubSpot original source (hs_analytics_source) -> the ad platform that acquired the contact
SOURCE_PLATFORMS = {"PAID_SOCIAL": "meta_ads", "PAID_SEARCH": "google_ads"}
REVENUE_COLUMNS = ("conversions_value", "revenue")  # mart, CLI
NEEDED_TABLES = (("results", "customer_value"), ("marts", "fct_orders"), ("marts", "fct_crm_funnel"))

_TABLE_EXISTS_SQL = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
_PLATFORM_CASE = " ".join(
    f"when '{source}' then '{platform}'" for source, platform in SOURCE_PLATFORMS.items()
)
CUSTOMERS_SQL = f"""
with

scores as (
    select * from results.customer_value
    where analysis_date = (select max(analysis_date) from results.customer_value)
),

first_orders as (
    select
        contact_id,
        order_value as first_order_value,
    from marts.fct_orders
    where contact_id is not null
    qualify row_number() over (partition by contact_id order by ordered_at, order_event_id) = 1
),

sources as (
    select
        contact_id,
        min(analytics_source) as analytics_source,
    from marts.fct_crm_funnel
    where contact_id is not null
    group by contact_id
),

final as (
    select
        case sources.analytics_source {_PLATFORM_CASE} end as platform,
        first_orders.first_order_value,
        scores.expected_value,
    from scores
    inner join first_orders on first_orders.contact_id = scores.contact_id
    inner join sources on sources.contact_id = scores.contact_id
)

select * from final where platform is not null
"""


@dataclass(frozen=True)
class ObjectiveWeights:
    """The objective a run used and, for ``customer_value``, its multipliers per platform."""

    requested: BudgetObjective
    used: BudgetObjective
    multipliers: dict[str, float] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)  # scored customers behind each multiplier
    pooled: float = 1.0  # for platforms without a multiplier of their own
    issues: tuple[str, ...] = ()

    def sentence(self) -> str:
        """One sentence for the run's headline: which objective, and the multipliers."""
        if self.used == "platform_revenue":
            fallback = " (customer value was asked for but could not be used; see issues)"
            return (
                "Objective: platform-attributed revenue"
                + (fallback if self.requested != self.used else "")
                + "."
            )
        shown = ", ".join(f"{platform} x{value:.2f}" for platform, value in sorted(self.multipliers.items()))
        return (
            "Objective: expected customer value (attributed revenue x the value of the customers each "
            f"platform acquires over their first order: {shown}; others x{self.pooled:.2f}); "
            "revenue figures are in expected customer value."
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "objective": self.used,
            "objective_requested": self.requested,
            "objective_multipliers": {key: round(value, 4) for key, value in self.multipliers.items()},
        }


def platform_revenue() -> ObjectiveWeights:
    return ObjectiveWeights(requested="platform_revenue", used="platform_revenue")


def _fallback(reason: str) -> ObjectiveWeights:
    return ObjectiveWeights(
        requested="customer_value",
        used="platform_revenue",
        issues=(f"budget objective customer_value not used, fell back to platform revenue: {reason}",),
    )


def customer_value_weights(customers: pd.DataFrame, min_customers: int = MIN_CUSTOMERS) -> ObjectiveWeights:
    """Multipliers per platform from one row per scored customer (``platform, first_order_value,
    expected_value``). Customers without a positive first order or a finite expected value are
    left out and counted in the issues."""
    values = customers[["platform", "first_order_value", "expected_value"]].copy()
    for column in ("first_order_value", "expected_value"):
        values[column] = pd.to_numeric(values[column], errors="coerce")
    usable = (
        (values["first_order_value"] > 0) & values["expected_value"].notna() & (values["expected_value"] >= 0)
    )
    issues = []
    if (~usable).any():
        issues.append(
            f"budget objective: left out {int((~usable).sum())} customer(s) without a positive first order "
            "or an expected value"
        )
    values = values[usable]
    if values.empty:
        return _fallback("no customer acquired through an ad platform has a customer-value score")
    values["customer_value"] = values["first_order_value"] + values["expected_value"]
    totals = values.groupby("platform").agg(
        customers=("customer_value", "size"),
        first=("first_order_value", "sum"),
        value=("customer_value", "sum"),
    )
    enough = totals[totals["customers"] >= min_customers]
    if enough.empty:
        return _fallback(
            f"fewer than {min_customers} scored customers per ad platform ({int(totals['customers'].sum())} in all)"
        )
    thin = sorted(set(totals.index) - set(enough.index))
    if thin:
        issues.append(
            f"budget objective: fewer than {min_customers} scored customers on {', '.join(thin)}, "
            "so the pooled multiplier is used there"
        )
    return ObjectiveWeights(
        requested="customer_value",
        used="customer_value",
        multipliers={str(name): float(row["value"] / row["first"]) for name, row in enough.iterrows()},
        customers={str(name): int(row["customers"]) for name, row in enough.iterrows()},
        pooled=float(totals["value"].sum() / totals["first"].sum()),
        issues=tuple(issues),
    )


def read_objective_weights(
    con: Any, objective: BudgetObjective, min_customers: int = MIN_CUSTOMERS
) -> ObjectiveWeights:
    """The weights for ``objective`` from the warehouse (nothing is read for ``platform_revenue``)."""
    if objective == "platform_revenue":
        return platform_revenue()
    missing = [
        f"{schema}.{table}"
        for schema, table in NEEDED_TABLES
        if not con.execute(_TABLE_EXISTS_SQL, [schema, table]).fetchone()[0]
    ]
    if missing:
        return _fallback(f"{', '.join(missing)} not in the warehouse (run the scores first)")
    return customer_value_weights(con.execute(CUSTOMERS_SQL).df(), min_customers)


def apply_objective(history: pd.DataFrame, weights: ObjectiveWeights) -> pd.DataFrame:
    """``history`` (mart or CLI shape) with its revenue column multiplied per platform; unchanged
    (the same frame) under ``platform_revenue``."""
    if weights.used == "platform_revenue":
        return history
    column = next((name for name in REVENUE_COLUMNS if name in history.columns), None)
    if column is None:
        return history
    factor = (
        history["platform"].astype("string").map(weights.multipliers).astype(float).fillna(weights.pooled)
    )
    return history.assign(**{column: pd.to_numeric(history[column], errors="coerce") * factor.to_numpy()})
