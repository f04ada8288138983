"""Read the score inputs from the marts (DuckDB): orders, CRM transitions, email sends, deals."""

from __future__ import annotations

from typing import Any

import pandas as pd

from decision_engine.scores.lead_features import CrmHistory
from decision_engine.scores.transactions import TransactionColumns

ORDER_COLUMNS = TransactionColumns(customer="contact_id", date="order_date", value="order_value")

# A HubSpot contact without a usable email has no contact_id; it is still a lead.
_CRM_CONTACT = "coalesce(contact_id, 'hubspot:' || hubspot_contact_id)"


def load_orders(con: Any) -> pd.DataFrame:
    """One row per order with its UTC day as text, the way ``loopwise scores clv`` reads a CSV."""
    return con.execute(
        "select contact_id, strftime(ordered_at, '%Y-%m-%d') as order_date, order_value "
        "from marts.fct_orders order by ordered_at"
    ).df()


def load_crm_history(con: Any) -> CrmHistory:
    transitions = con.execute(
        f"select {_CRM_CONTACT} as contact_id, hubspot_contact_id, to_stage, transitioned_at, analytics_source "
        "from marts.fct_crm_funnel"
    ).df()
    # only the sends of CRM contacts: the features are per CRM contact (on the large world that is
    # 7 of 16 million sends), in time order, as the features slice them
    sends = con.execute(
        "select contact_id, sent_at, is_delivered, "
        "case when is_human_opened then first_opened_at end as first_opened_at, first_clicked_at "
        "from marts.fct_email_sends "
        "where contact_id in (select contact_id from marts.fct_crm_funnel where contact_id is not null) "
        "order by sent_at"
    ).df()
    deals = con.execute(f"select {_CRM_CONTACT} as contact_id, created_at from marts.fct_deals").df()
    return CrmHistory(transitions=transitions, sends=sends, deals=deals)


def last_email_engagement(con: Any) -> pd.Series:
    """Each contact's last human open or click (naive UTC), indexed by contact_id."""
    return (
        con.execute(
            "select contact_id, max(greatest("
            "coalesce(case when is_human_opened then first_opened_at end, first_clicked_at), "
            "coalesce(first_clicked_at, case when is_human_opened then first_opened_at end))) as engaged_at "
            "from marts.fct_email_sends where contact_id is not null group by contact_id"
        )
        .df()
        .set_index("contact_id")["engaged_at"]
    )
