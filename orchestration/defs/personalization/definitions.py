"""Personalization from the email marts: each contact's best local send hour
(results.send_time_profiles) and content angle (results.content_affinity)."""

import json
from datetime import UTC, datetime

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import preview
from orchestration.resources import WarehouseResource

SEND_TIME_PROFILES_KEY = dg.AssetKey(["results", "send_time_profiles"])
CONTENT_AFFINITY_KEY = dg.AssetKey(["results", "content_affinity"])
INPUT_MARTS = ("fct_email_sends", "dim_contacts")
CONTENT_INPUT_MARTS = ("fct_email_sends", "dim_message_content")


class SendTimeConfig(dg.Config):
    half_life_days: float = 30.0


class ContentAffinityConfig(dg.Config):
    half_life_days: float = 30.0
    open_weight: float = 0.5


def build_definitions(mart_keys: list[dg.AssetKey]) -> dg.Definitions:
    deps = [key for key in mart_keys if key.path[-1] in INPUT_MARTS]

    @dg.asset(
        key=SEND_TIME_PROFILES_KEY,
        deps=deps,
        group_name=DECISIONS,
        tags={"domain": "personalization"},
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description="Per contact: engagement by local hour (human opens and clicks, recency-weighted), "
        "shrunk towards the contact's timing segment and the account; the chosen local send hour.",
    )
    def send_time_profiles(
        context: dg.AssetExecutionContext, config: SendTimeConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        from decision_engine.personalization.send_time import SendTimeSettings, params_json, run_send_time

        with warehouse.connect() as con:
            run = run_send_time(
                con, SendTimeSettings(half_life_days=config.half_life_days), datetime.now(UTC)
            )
            table = table_metadata(con, SEND_TIME_PROFILES_KEY)
            rows_preview = preview(con, SEND_TIME_PROFILES_KEY.path[-1])
        context.log.info(run.headline)
        return dg.MaterializeResult(
            metadata={
                **table,
                "preview": rows_preview,
                "headline": run.headline,
                "rows": run.rows,
                "sources": dict(run.sources),
                "params": params_json(run),
            }
        )

    @dg.asset(
        key=CONTENT_AFFINITY_KEY,
        deps=[key for key in mart_keys if key.path[-1] in CONTENT_INPUT_MARTS],
        group_name=DECISIONS,
        tags={"domain": "personalization"},
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description="Per contact and content angle: engagement (clicks, human opens; recency-weighted) "
        "shrunk towards the contact's level and the account's angle mix; the preferred angle and how sure.",
    )
    def content_affinity(
        context: dg.AssetExecutionContext, config: ContentAffinityConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        from decision_engine.personalization.content_affinity import (
            ContentAffinitySettings,
            run_content_affinity,
        )

        settings = ContentAffinitySettings(
            half_life_days=config.half_life_days, open_weight=config.open_weight
        )
        with warehouse.connect() as con:
            run = run_content_affinity(con, settings, datetime.now(UTC))
            table = table_metadata(con, CONTENT_AFFINITY_KEY)
            rows_preview = preview(con, CONTENT_AFFINITY_KEY.path[-1])
        context.log.info(run.headline)
        return dg.MaterializeResult(
            metadata={
                **table,
                "preview": rows_preview,
                "headline": run.headline,
                "rows": run.rows,
                "contacts": run.contacts,
                "preferred_angles": dict(run.preferred),
                "params": json.dumps(run.params, sort_keys=True),
            }
        )

    return dg.Definitions(assets=[send_time_profiles, content_affinity])
