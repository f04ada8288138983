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

``crm_won_revenue`` scales each platform's attributed revenue to the won deal revenue of the
contacts it acquired (same HubSpot original source mapping), over the ad history's window::

    multiplier = won deal revenue (deals closed in the window) / attributed conversion value (same window)

so a platform's revenue series sums to what its contacts closed in the CRM. A platform with fewer
than ``min_won_deals`` won deals takes the pooled multiplier (all won deals of ad-acquired contacts
over all attributed revenue); with no won deal at all, or without the deal or funnel marts, the
run falls back to platform revenue and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from decision_engine.policy import BudgetObjective

MIN_CUSTOMERS = 30  # scored customers a platform needs for its own multiplier
MIN_WON_DEALS = 10  # won deals a platform needs for its own CRM multiplier
# HubSpot original source (hs_analytics_source) -> the ad platform that acquired the contact
SOURCE_PLATFORMS = {"PAID_SOCIAL": "meta_ads", "PAID_SEARCH": "google_ads"}
REVENUE_COLUMNS = ("conversions_value", "revenue")  # mart, CLI
NEEDED_TABLES: dict[BudgetObjective, tuple[tuple[str, str], ...]] = {
    "customer_value": (("results", "customer_value"), ("marts", "fct_orders"), ("marts", "fct_crm_funnel")),
    "crm_won_revenue": (
        ("marts", "fct_deals"),
        ("marts", "fct_crm_funnel"),
        ("marts", "fct_ad_performance_daily"),
    ),
}
# What each objective measures, as the headline and the per-ad reasons name it.
OBJECTIVE_LABELS: dict[BudgetObjective, str] = {
    "platform_revenue": "platform-attributed revenue",
    "customer_value": "expected customer value",
    "crm_won_revenue": "CRM won revenue",
}

_TABLE_EXISTS_SQL = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
_PLATFORM_CASE = " ".join(
    f"when '{source}' then '{platform}'" for source, platform in SOURCE_PLATFORMS.items()
)
# the acquiring platform per contact (HubSpot original source), shared by both objectives
SOURCES_CTE = f"""sources as (
    select
        contact_id,
        case min(analytics_source) {_PLATFORM_CASE} end as platform,
    from marts.fct_crm_funnel
    where contact_id is not null
    group by contact_id
)"""
CUSTOMERS_SQL = f"""
with

{SOURCES_CTE},

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

final as (
    select
        sources.platform,
        first_orders.first_order_value,
        scores.expected_value,
    from scores
    inner join first_orders on first_orders.contact_id = scores.contact_id
    inner join sources on sources.contact_id = scores.contact_id
)

select * from final where platform is not null
"""
# the ad history's window: days with data that is not quarantined
WINDOW_SQL = """
select min(date_day) as first_day, max(date_day) as last_day,
from marts.fct_ad_performance_daily
where not coalesce(is_quarantined, false)
"""
ATTRIBUTED_SQL = """
select platform, sum(conversions_value) as attributed_revenue,
from marts.fct_ad_performance_daily
where not coalesce(is_quarantined, false) and date_day between $first_day and $last_day
group by platform
"""
WON_DEALS_SQL = f"""
with

{SOURCES_CTE},

won_deals as (
    select
        deal_id,
        contact_id,
        won_revenue,
    from marts.fct_deals
    where outcome = 'won' and cast(closed_at as date) between $first_day and $last_day
),

final as (
    select
        won_deals.deal_id,
        sources.platform,
        won_deals.won_revenue,
    from won_deals
    inner join sources on sources.contact_id = won_deals.contact_id
)

select * from final where platform is not null
"""


@dataclass(frozen=True)
class ObjectiveWeights:
    """The objective a run used and, unless ``platform_revenue``, its multipliers per platform."""

    requested: BudgetObjective
    used: BudgetObjective
    multipliers: dict[str, float] = field(default_factory=dict)
    # what each multiplier rests on: scored customers (customer_value) or won deals (crm_won_revenue)
    customers: dict[str, int] = field(default_factory=dict)
    pooled: float = 1.0  # for platforms without a multiplier of their own
    issues: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """What the run's revenue figures measure, e.g. "expected customer value"."""
        return OBJECTIVE_LABELS[self.used]

    def sentence(self) -> str:
        """One sentence for the run's headline: which objective, and the multipliers."""
        if self.used == "platform_revenue":
            fallback = (
                f" ({OBJECTIVE_LABELS[self.requested]} was asked for but could not be used; see issues)"
            )
            return (
                "Objective: platform-attributed revenue"
                + (fallback if self.requested != self.used else "")
                + "."
            )
        shown = ", ".join(f"{platform} x{value:.2f}" for platform, value in sorted(self.multipliers.items()))
        if self.used == "crm_won_revenue":
            how = "attributed revenue scaled to the won deal revenue of the contacts each platform acquires"
        else:
            how = "attributed revenue x the value of the customers each platform acquires over their first order"
        return (
            f"Objective: {self.label} ({how}: {shown}; others x{self.pooled:.2f}); "
            f"revenue figures are in {self.label}."
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "objective": self.used,
            "objective_requested": self.requested,
            "objective_multipliers": {key: round(value, 4) for key, value in self.multipliers.items()},
        }


def platform_revenue() -> ObjectiveWeights:
    return ObjectiveWeights(requested="platform_revenue", used="platform_revenue")


def _fallback(requested: BudgetObjective, reason: str, issues: tuple[str, ...] = ()) -> ObjectiveWeights:
    return ObjectiveWeights(
        requested=requested,
        used="platform_revenue",
        issues=(*issues, f"budget objective {requested} not used, fell back to platform revenue: {reason}"),
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
        return _fallback(
            "customer_value", "no customer acquired through an ad platform has a customer-value score"
        )
    values["customer_value"] = values["first_order_value"] + values["expected_value"]
    totals = values.groupby("platform").agg(
        customers=("customer_value", "size"),
        first=("first_order_value", "sum"),
        value=("customer_value", "sum"),
    )
    enough = totals[totals["customers"] >= min_customers]
    if enough.empty:
        return _fallback(
            "customer_value",
            f"fewer than {min_customers} scored customers per ad platform ({int(totals['customers'].sum())} in all)",
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


def crm_won_revenue_weights(
    won_deals: pd.DataFrame, attributed: pd.Series, min_won_deals: int = MIN_WON_DEALS
) -> ObjectiveWeights:
    """Multipliers per platform from one row per won deal of an ad-acquired contact (``platform,
    won_revenue``) and each platform's attributed revenue over the same window (``attributed``,
    indexed by platform). Deals without a positive won revenue are left out and counted."""
    deals = won_deals[["platform", "won_revenue"]].copy()
    deals["won_revenue"] = pd.to_numeric(deals["won_revenue"], errors="coerce")
    usable = deals["won_revenue"] > 0
    issues = []
    if (~usable).any():
        issues.append(
            f"budget objective: left out {int((~usable).sum())} won deal(s) without a positive amount"
        )
    deals = deals[usable]
    attributed = pd.to_numeric(attributed, errors="coerce").fillna(0.0)
    if deals.empty:
        return _fallback(
            "crm_won_revenue",
            "no won deal in the window belongs to a contact acquired through an ad platform",
            tuple(issues),
        )
    if attributed.sum() <= 0:
        return _fallback("crm_won_revenue", "the ads attributed no revenue in the window", tuple(issues))
    totals = deals.groupby("platform").agg(deals=("won_revenue", "size"), won=("won_revenue", "sum"))
    totals["attributed"] = attributed.reindex(totals.index).fillna(0.0)
    enough = totals[(totals["deals"] >= min_won_deals) & (totals["attributed"] > 0)]
    if enough.empty:
        return _fallback(
            "crm_won_revenue",
            f"fewer than {min_won_deals} won deals per ad platform ({int(totals['deals'].sum())} in all)",
            tuple(issues),
        )
    thin = sorted(set(totals.index) - set(enough.index))
    if thin:
        issues.append(
            f"budget objective: fewer than {min_won_deals} won deals on {', '.join(thin)}, "
            "so the pooled multiplier is used there"
        )
    return ObjectiveWeights(
        requested="crm_won_revenue",
        used="crm_won_revenue",
        multipliers={str(name): float(row["won"] / row["attributed"]) for name, row in enough.iterrows()},
        customers={str(name): int(row["deals"]) for name, row in enough.iterrows()},
        pooled=float(totals["won"].sum() / attributed.sum()),
        issues=tuple(issues),
    )


def _read_crm_won_revenue(con: Any, min_won_deals: int) -> ObjectiveWeights:
    first_day, last_day = con.execute(WINDOW_SQL).fetchall()[0]
    if first_day is None:
        return _fallback("crm_won_revenue", "marts.fct_ad_performance_daily has no ad data")
    window = {"first_day": first_day, "last_day": last_day}
    attributed = con.execute(ATTRIBUTED_SQL, window).df().set_index("platform")["attributed_revenue"]
    return crm_won_revenue_weights(con.execute(WON_DEALS_SQL, window).df(), attributed, min_won_deals)


def read_objective_weights(
    con: Any,
    objective: BudgetObjective,
    min_customers: int = MIN_CUSTOMERS,
    min_won_deals: int = MIN_WON_DEALS,
) -> ObjectiveWeights:
    """The weights for ``objective`` from the warehouse (nothing is read for ``platform_revenue``)."""
    if objective == "platform_revenue":
        return platform_revenue()
    missing = [
        f"{schema}.{table}"
        for schema, table in NEEDED_TABLES[objective]
        if not con.execute(_TABLE_EXISTS_SQL, [schema, table]).fetchone()[0]
    ]
    if missing:
        hint = "run the scores first" if objective == "customer_value" else "run dbt first"
        return _fallback(objective, f"{', '.join(missing)} not in the warehouse ({hint})")
    if objective == "crm_won_revenue":
        return _read_crm_won_revenue(con, min_won_deals)
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
