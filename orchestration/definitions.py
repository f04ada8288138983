"""The Loopwise code location. This module only assembles: each domain builds its own
definitions under ``orchestration/defs/<domain>/``."""

from __future__ import annotations

import dagster as dg

from orchestration.asset_metadata import standard_asset_spec, with_code_references
from orchestration.console_log import brief_console_logger
from orchestration.defs.anomalies import definitions as anomalies
from orchestration.defs.bi import definitions as bi
from orchestration.defs.budget import definitions as budget
from orchestration.defs.digest import definitions as digest
from orchestration.defs.experiments import definitions as experiments
from orchestration.defs.ingestion import definitions as ingestion
from orchestration.defs.jobs import definitions as jobs
from orchestration.defs.loop import definitions as loop
from orchestration.defs.notify import definitions as notify
from orchestration.defs.personalization import definitions as personalization
from orchestration.defs.quality import definitions as quality
from orchestration.defs.scores import definitions as scores
from orchestration.defs.transform import definitions as transform
from orchestration.resources import LoopwisePathsResource, VendorSourcesResource, WarehouseResource


def build_defs() -> dg.Definitions:
    ingestion_defs = ingestion.build_definitions()
    transform_defs = transform.build_definitions()
    quality_defs = quality.build_definitions(ingestion_defs, transform_defs)
    mart_keys = [
        key for assets_def in transform_defs.assets or [] for key in assets_def.keys if key.path[0] == "marts"
    ]
    gate_check_keys = quality.gate_check_keys(quality_defs)
    anomaly_defs = anomalies.build_definitions(mart_keys)
    score_defs = scores.build_definitions(mart_keys)
    score_keys = [key for assets_def in score_defs.assets or [] for key in assets_def.keys]
    personalization_defs = personalization.build_definitions(mart_keys, score_keys)
    personalization_keys = [
        key for assets_def in personalization_defs.assets or [] for key in assets_def.keys
    ]
    budget_defs = budget.build_definitions(mart_keys, score_keys)
    experiment_defs = experiments.build_definitions(mart_keys, score_keys, personalization_keys)
    decision_keys = [
        key
        for definitions in (anomaly_defs, budget_defs, experiment_defs)
        for assets_def in definitions.assets or []
        for key in assets_def.keys
    ]
    # the action queue also proposes send times from the send-time profiles
    loop_defs = loop.build_definitions(decision_keys + personalization_keys)
    # the loop also declares an external asset (an AssetSpec: one key) beside its asset definitions
    loop_keys = [
        key for asset in loop_defs.assets or [] for key in getattr(asset, "keys", None) or [asset.key]
    ]
    merged = dg.Definitions.merge(
        ingestion_defs,
        transform_defs,
        quality_defs,
        anomaly_defs,
        budget_defs,
        experiment_defs,
        loop_defs,
        score_defs,
        personalization_defs,
        bi.build_definitions(mart_keys + decision_keys + loop_keys + score_keys + personalization_keys),
        # the digest's send-time paragraph reads the lift and the profiles, its content paragraph the
        # content lift
        digest.build_definitions(
            decision_keys
            + loop_keys
            + [
                key
                for key in personalization_keys
                if key.path[-1] in ("send_time_lift", "send_time_profiles", "content_lift")
            ]
        ),
        jobs.build_definitions(),
        notify.build_definitions(gate_check_keys),
        dg.Definitions(
            resources={
                "warehouse": WarehouseResource(),
                "vendor_sources": VendorSourcesResource(),
                "loopwise_paths": LoopwisePathsResource(),
            },
            executor=dg.in_process_executor,
            loggers={"console": brief_console_logger},
        ),
    )
    # Table names, owners, tags, freshness and the results' column schemas, derived in one place for
    # every asset; each asset links to the code that defines it (dbt models to their SQL files).
    return dg.Definitions(
        assets=with_code_references(dg.map_asset_specs(standard_asset_spec, merged.assets or [])),
        asset_checks=merged.asset_checks,
        jobs=merged.jobs,
        schedules=merged.schedules,
        sensors=merged.sensors,
        resources=merged.resources,
        executor=merged.executor,
        loggers=merged.loggers,
        metadata=merged.metadata,
    )


defs = build_defs()
