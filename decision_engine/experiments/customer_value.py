"""Customer value per recipient: what a send is worth beyond its first order, where volume allows.

Per exposure, ``customer_value`` = the order revenue attributed to the send (``revenue`` of
``marts.fct_experiment_exposures``) plus, for a recipient who ordered (``is_converted``), their
expected value over the scores' horizon from the latest ``results.customer_value`` run (0 for
recipients who did not order, and for an orderer the scores have not reached). The join happens
here, in the run, because the scores are a results table written after the marts are built.
Without ``results.customer_value`` the metric is absent and the run says why.

The metric is a secondary result of every experiment. It becomes the plan's primary metric only
where volume allows: at least :data:`MIN_CONVERTERS_PER_ARM` recipients who ordered in every arm
(the expected value is carried by the few who order, so fewer of them make a noisy mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from decision_engine.experiments.metrics import CUSTOMER_VALUE_PER_RECIPIENT, MetricSpec

MIN_CONVERTERS_PER_ARM = 100  # recipients who ordered, in the smallest arm, before the value metric leads
CONVERSION_METRIC = "conversion_rate"  # its sum_y is the number of recipients who ordered
VIEW = "exposures_with_customer_value"
_TABLE_EXISTS_SQL = (
    "select count(*) from information_schema.tables "
    "where table_schema = 'results' and table_name = 'customer_value'"
)


@dataclass(frozen=True)
class ValueSource:
    """Where the run reads exposures from, the extra metrics that table supports, and why not."""

    table: str
    metrics: tuple[MetricSpec, ...] = ()
    note: str = ""  # why the value metric is absent ("" when it is reported)


def exposures_with_customer_value_sql(exposures_table: str) -> str:
    return f"""
create or replace temp view {VIEW} as

with

exposures as (
    select * from {exposures_table}
),

scores as (
    select contact_id, expected_value,
    from results.customer_value
    where analysis_date = (select max(analysis_date) from results.customer_value)
),

final as (
    select
        exposures.*,
        exposures.revenue + case
            when coalesce(exposures.is_converted, false) then coalesce(scores.expected_value, 0.0)
            else 0.0
        end as customer_value,
    from exposures
    left join scores on scores.contact_id = exposures.unit_id
)

select * from final
"""


def customer_value_source(con: Any, exposures_table: str) -> ValueSource:
    """The exposures with a ``customer_value`` column (a temp view) when ``results.customer_value``
    exists; otherwise the exposures as they are and a note saying the metric is absent."""
    if not con.execute(_TABLE_EXISTS_SQL).fetchall()[0][0]:
        return ValueSource(
            exposures_table,
            note=f"{CUSTOMER_VALUE_PER_RECIPIENT.name} not reported: results.customer_value is not in "
            "the warehouse (the scores have not run)",
        )
    con.execute(exposures_with_customer_value_sql(exposures_table))
    return ValueSource(VIEW, (CUSTOMER_VALUE_PER_RECIPIENT,))


def converters_per_arm(stats: pd.DataFrame) -> dict[str, int]:
    """Recipients who ordered in each experiment's smallest arm, at its latest analysis date
    (from the ``conversion_rate`` sufficient statistics)."""
    conversions = stats[stats["metric"] == CONVERSION_METRIC]
    if conversions.empty:
        return {}
    latest = conversions[
        conversions["analysis_date"] == conversions.groupby("experiment_id")["analysis_date"].transform("max")
    ]
    fewest = latest.groupby("experiment_id")["sum_y"].min()
    return {str(experiment_id): int(round(count)) for experiment_id, count in fewest.items()}


def value_primary_note(fewest_converters: int, minimum: int = MIN_CONVERTERS_PER_ARM) -> str:
    """The decision text's sentence when the value metric leads."""
    label = CUSTOMER_VALUE_PER_RECIPIENT.display_name
    return (
        f"Decided on {label} (attributed revenue plus expected future value of those who ordered): "
        f"every arm has at least {minimum:,} ordering recipients ({fewest_converters:,} in the smallest)."
    )


def value_ready(converters: Mapping[str, int], minimum: int = MIN_CONVERTERS_PER_ARM) -> dict[str, int]:
    """The experiments whose smallest arm has at least ``minimum`` recipients who ordered."""
    return {experiment_id: count for experiment_id, count in converters.items() if count >= minimum}
