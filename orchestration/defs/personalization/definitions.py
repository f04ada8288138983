"""Personalization from the email marts: each contact's best local send hour
(results.send_time_profiles) and what sending at it earns against the randomized control
(results.send_time_lift), content angle (results.content_affinity) and what choosing it earns
(results.content_lift), and micro-segment (results.micro_segments and
results.micro_segment_profiles)."""

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import preview
from orchestration.resources import WarehouseResource

SEND_TIME_PROFILES_KEY = dg.AssetKey(["results", "send_time_profiles"])
SEND_TIME_LIFT_KEY = dg.AssetKey(["results", "send_time_lift"])
CONTENT_AFFINITY_KEY = dg.AssetKey(["results", "content_affinity"])
CONTENT_LIFT_KEY = dg.AssetKey(["results", "content_lift"])
INPUT_MARTS = ("fct_email_sends", "dim_contacts")
CONTENT_INPUT_MARTS = ("fct_email_sends", "dim_message_content")
MICRO_SEGMENTS_KEY = dg.AssetKey(["results", "micro_segments"])
MICRO_SEGMENT_PROFILES_KEY = dg.AssetKey(["results", "micro_segment_profiles"])


class SendTimeConfig(dg.Config):
    half_life_days: float = 30.0


class ContentAffinityConfig(dg.Config):
    half_life_days: float = 30.0
    open_weight: float = 0.5


class MicroSegmentConfig(dg.Config):
    min_segment_contacts: int = 50


def _run_and_describe(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    key: dg.AssetKey,
    run_model: Callable[[Any], Any],
) -> tuple[Any, dict[str, Any]]:
    """Run one model on the warehouse and log its headline; the run and the metadata every
    personalization table carries (its table metadata, a preview, the headline, the rows)."""
    with warehouse.connect() as con:
        run = run_model(con)
        table = table_metadata(con, key)
        rows_preview = preview(con, key.path[-1])
    context.log.info(run.headline)
    return run, {**table, "preview": rows_preview, "headline": run.headline, "rows": run.rows}


def build_definitions(mart_keys: list[dg.AssetKey], score_keys: Sequence[dg.AssetKey] = ()) -> dg.Definitions:
    """``score_keys``: the score assets; micro-segments read ``results.customer_value`` (predicted
    value) when it exists, so it is a dependency when the scores are part of the code location."""
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

        settings = SendTimeSettings(half_life_days=config.half_life_days)
        run, metadata = _run_and_describe(
            context,
            warehouse,
            SEND_TIME_PROFILES_KEY,
            lambda con: run_send_time(con, settings, datetime.now(UTC)),
        )
        return dg.MaterializeResult(
            metadata={**metadata, "sources": dict(run.sources), "params": params_json(run)}
        )

    # results.send_time_assignments is written by the scheduling action's vendor write (the loop), which
    # runs after the decision assets: the lift reads what earlier runs recorded (the table when it
    # exists) and depends on the sends mart only (a dependency on the loop would be a cycle)
    @dg.asset(
        key=SEND_TIME_LIFT_KEY,
        deps=[key for key in mart_keys if key.path[-1] == "fct_email_sends"],
        group_name=DECISIONS,
        tags={"domain": "personalization"},
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description="Human open and click rates of the send-time arms (personalized, the randomized control "
        "at the account's best hour, explore) on matured sends, and the lift over the control with its "
        "95% interval (delta method, clustered by contact).",
    )
    def send_time_lift(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        from decision_engine.personalization.send_time_lift import run_send_time_lift

        run, metadata = _run_and_describe(
            context, warehouse, SEND_TIME_LIFT_KEY, lambda con: run_send_time_lift(con, datetime.now(UTC))
        )
        return dg.MaterializeResult(
            metadata={**metadata, "sends": dict(run.sends), "campaigns": run.campaigns}
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
        run, metadata = _run_and_describe(
            context,
            warehouse,
            CONTENT_AFFINITY_KEY,
            lambda con: run_content_affinity(con, settings, datetime.now(UTC)),
        )
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "contacts": run.contacts,
                "preferred_angles": dict(run.preferred),
                "params": json.dumps(run.params, sort_keys=True),
            }
        )

    # results.content_assignments is written by the content action's vendor write (the loop), like the
    # send-time assignments: the lift reads what earlier runs recorded and depends on the sends mart only
    @dg.asset(
        key=CONTENT_LIFT_KEY,
        deps=[key for key in mart_keys if key.path[-1] == "fct_email_sends"],
        group_name=DECISIONS,
        tags={"domain": "personalization"},
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_WRITER_POOL,
        description="Click and human open rates of the content arms (each contact's preferred angle, the "
        "randomized control at random angles) on matured sends, send-time clones counted for their "
        "campaign, and the lift over the control with its 95% interval (delta method, clustered by contact).",
    )
    def content_lift(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        from decision_engine.personalization.content_lift import run_content_lift

        run, metadata = _run_and_describe(
            context, warehouse, CONTENT_LIFT_KEY, lambda con: run_content_lift(con, datetime.now(UTC))
        )
        return dg.MaterializeResult(
            metadata={**metadata, "sends": dict(run.sends), "campaigns": run.campaigns}
        )

    micro_deps = [
        *(key for key in mart_keys if key.path[-1] == "fct_email_sends"),
        CONTENT_AFFINITY_KEY,
        *(key for key in score_keys if key.path == ["results", "customer_value"]),
    ]

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                MICRO_SEGMENTS_KEY,
                deps=micro_deps,
                group_name=DECISIONS,
                tags={"domain": "personalization"},
                kinds={"python", "duckdb"},
                description="Per contact: its micro-segment from recency, shrunk click level, preferred "
                "content angle and predicted value, banded with hysteresis so noise does not move it.",
            ),
            dg.AssetSpec(
                MICRO_SEGMENT_PROFILES_KEY,
                deps=[MICRO_SEGMENTS_KEY],
                group_name=DECISIONS,
                tags={"domain": "personalization"},
                kinds={"python", "duckdb"},
                description="Per micro-segment: size, click rate against the account, recency, content "
                "preference and value, and a plain-English description.",
            ),
        ],
        pool=WAREHOUSE_WRITER_POOL,
    )
    def micro_segments(
        context: dg.AssetExecutionContext, config: MicroSegmentConfig, warehouse: WarehouseResource
    ):
        from decision_engine.personalization.micro_segments import MicroSegmentSettings, run_micro_segments

        settings = MicroSegmentSettings(min_segment_contacts=config.min_segment_contacts)
        keys = (MICRO_SEGMENTS_KEY, MICRO_SEGMENT_PROFILES_KEY)
        with warehouse.connect() as con:
            run = run_micro_segments(con, settings, datetime.now(UTC))
            tables = {key: table_metadata(con, key) for key in keys} if run.rows else {}
            previews = {key: preview(con, key.path[-1]) for key in keys} if run.rows else {}
        context.log.info(run.headline)
        summary = {
            "headline": run.headline,
            "segments": run.segments,
            "contacts_moved": run.moved,
            "features_used": ", ".join(run.features_used),
        }
        yield dg.MaterializeResult(
            asset_key=MICRO_SEGMENTS_KEY,
            metadata={**tables.get(MICRO_SEGMENTS_KEY, {}), **summary, "rows": run.rows,
                      **({"preview": previews[MICRO_SEGMENTS_KEY]} if previews else {})},
        )  # fmt: skip
        yield dg.MaterializeResult(
            asset_key=MICRO_SEGMENT_PROFILES_KEY,
            metadata={**tables.get(MICRO_SEGMENT_PROFILES_KEY, {}), **summary, "sizes": dict(run.sizes),
                      **({"preview": previews[MICRO_SEGMENT_PROFILES_KEY]} if previews else {})},
        )  # fmt: skip

    return dg.Definitions(
        assets=[send_time_profiles, send_time_lift, content_affinity, content_lift, micro_segments]
    )
