"""Predictive scores: customer value (BG/NBD + Gamma-Gamma), churn risk and lead scores.

Pure Python over the marts (DuckDB) or a CSV export; never imports Dagster.
"""

from decision_engine.scores.codes import EXCLUSION_TEXT, ExclusionReason, ModelNote, ScoreTier
from decision_engine.scores.customer_value import CustomerValueScores, score_customer_value, to_json_dict
from decision_engine.scores.transactions import (
    CustomerSummary,
    ScoreInputError,
    TransactionColumns,
    summarize_transactions,
)

__all__ = [
    "EXCLUSION_TEXT",
    "CustomerSummary",
    "CustomerValueScores",
    "ExclusionReason",
    "ModelNote",
    "ScoreInputError",
    "ScoreTier",
    "TransactionColumns",
    "score_customer_value",
    "summarize_transactions",
    "to_json_dict",
]
