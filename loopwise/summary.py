"""The summary ``loopwise demo`` prints after a run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.settings import LoopwisePaths, dbt_target, engine
from loopwise.runner import RunSummary

if TYPE_CHECKING:
    from loopwise.commands.demo import DeliveredPages, WrittenDigest

SUMMARY_SCHEMAS = ("raw_klaviyo", "raw_hubspot", "raw_meta_ads", "raw_google_ads", "marts", "results")


def table_row_counts(database_path: str, schemas: tuple[str, ...] = SUMMARY_SCHEMAS) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(database_path, read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            # views too: on the Spark engine the marts are views over Spark's Parquet tables
            "where table_type in ('BASE TABLE', 'VIEW') and table_name not like '\\_dlt%' escape '\\' "
            "order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{table}": con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            for schema, table in tables
            if schema in schemas
        }
    finally:
        con.close()


def quarantine_reasons(database_path: str) -> dict[str, int]:
    import duckdb

    from ingestion.stats import reason_kind

    con = duckdb.connect(database_path, read_only=True)
    try:
        reasons: dict[str, int] = {}
        for schema in SUMMARY_SCHEMAS[:4]:
            exists = con.execute(
                "select count(*) from information_schema.tables where table_schema = ? and table_name = 'quarantine'",
                [schema],
            ).fetchone()[0]
            if not exists:
                continue
            for resource, reason in con.execute(
                f"select resource, reason from {schema}.quarantine"
            ).fetchall():
                # The kind of reason only: the offending value may be personal data (an email).
                key = f"{schema}.{resource}: {reason_kind(reason)}"
                reasons[key] = reasons.get(key, 0) + 1
        return dict(sorted(reasons.items(), key=lambda item: -item[1]))
    finally:
        con.close()


def print_summary(paths: LoopwisePaths, summary: RunSummary, total_elapsed_s: float) -> None:
    status = "succeeded" if summary.success else "FAILED"
    print()
    print(f"Run {summary.run_id} {status} in {summary.elapsed_s:.0f}s (demo total {total_elapsed_s:.0f}s)")
    for step in summary.failed_steps:
        print(f"  failed step {step}: {summary.step_errors.get(step, 'failed')}")
    passed = sum(summary.check_results.values())
    failed = [name for name, ok in summary.check_results.items() if not ok]
    print(
        f"  assets materialized: {len(summary.materialized)}; checks (dbt tests + GX suites) passed "
        f"{passed}/{len(summary.check_results)}"
    )
    for name in failed[:20]:
        severity = summary.check_severities.get(name, "ERROR")
        print(f"    check {'warning' if severity == 'WARN' else 'FAILED'}: {name}")
    if not paths.warehouse.exists():
        return
    try:
        counts = table_row_counts(str(paths.warehouse))
    except Exception as error:  # locked by another writer, or not a warehouse any more
        from loopwise.errors import operator_message

        reason = operator_message(error) or str(error).strip().splitlines()[0]
        print(f"  (no table counts: {reason})")
        return
    _print_counts("Raw tables (dlt)", {k: v for k, v in counts.items() if k.startswith("raw_")})
    on_spark = engine() == "spark"
    marts_title = f"Marts (dbt on Spark, target {dbt_target()})" if on_spark else "Marts (dbt)"
    _print_counts(marts_title, {k: v for k, v in counts.items() if k.startswith("marts.")})
    _print_counts("Results (decisions)", {k: v for k, v in counts.items() if k.startswith("results.")})
    reasons = quarantine_reasons(str(paths.warehouse))
    if reasons:
        print(f"  Quarantined records ({sum(reasons.values())}), by reason:")
        for reason, count in list(reasons.items())[:12]:
            print(f"    {count:>7}  {reason}")
    for line in _decision_highlights(summary.asset_metadata):
        print(line)
    for line in loop_lines(str(paths.warehouse)):
        print(line)
    print()
    print(f"Warehouse (pipeline only): {paths.warehouse}")
    if on_spark:
        print(
            f"  Spark built the models: Parquet tables in {paths.spark_warehouse}, read from the lake {paths.lake};"
        )
        print("  the warehouse's staging, intermediate and marts are views over them.")
    print(f"BI snapshot (connect BI here, read-only): {paths.bi_snapshot}")
    print(
        f'  e.g. duckdb -readonly {paths.bi_snapshot} "select * from marts.fct_ad_performance_daily limit 5"'
    )
    print("Open the Dagster UI on this run with `make dev`.")


def print_pages(pages: DeliveredPages, shown: int = 1) -> None:
    """Where the demo's pages went, and the first ``shown`` of them in full."""
    import json

    print()
    print(f"Pages ({', '.join(pages.channels)}): {pages.message}")
    if pages.outbox_dir is not None:
        print(f"  Local outbox: {pages.outbox_dir} ({len(pages.outbox_files)} new)")
    for index, path in enumerate(pages.outbox_files):
        page = json.loads(path.read_text())
        if index < shown:
            print(f"  --- {path.name} ---")
            print("\n".join(f"  {line}" if line else "" for line in page["text"].splitlines()))
        else:
            print(f"  {path.name}: {page['headline']}")


def print_digest(digest: WrittenDigest | None, lines: int = 12) -> None:
    """Where the weekly digest went, and its first ``lines`` lines."""
    if digest is None:
        return
    print()
    print(f"Weekly digest: {digest.message}")
    if digest.html is not None:
        print(f"  {digest.html} (and .md beside it; charts draw offline)")
    for line in (digest.markdown or "").splitlines()[:lines]:
        print(f"  {line}" if line else "")


def _print_counts(title: str, counts: dict[str, int]) -> None:
    if not counts:
        return
    print(f"  {title}:")
    for name, rows in counts.items():
        print(f"    {rows:>10,}  {name}")


def _decision_highlights(metadata: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for key, values in sorted(metadata.items()):
        headline = values.get("headline")
        if headline:
            lines.append(f"  {key}: {headline}")
    return lines


def loop_lines(database_path: str, limit: int = 8) -> list[str]:
    """The governed loop in a few lines: actions by status, the writes sent, what waits for a human."""
    import duckdb

    con = duckdb.connect(database_path, read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'results' "
            "and table_name in ('actions', 'action_log')"
        ).fetchall()[0][0]
        if exists < 2:
            return []
        statuses = con.execute(
            "select status, count(*) from results.actions group by 1 order by 2 desc, 1"
        ).fetchall()
        writes = con.execute(
            "select platform, entity_type, entity_id, field, value_before, value_after, status, mode "
            'from results.action_log order by "at" desc, log_id limit ?',
            [limit],
        ).fetchall()
        pending = con.execute(
            "select action_id, platform, target_id, payload, status_reason from results.actions "
            "where status = 'pending_approval' order by status_at, action_id limit ?",
            [limit],
        ).fetchall()
        send_times = _send_time_lines(con) + _content_lines(con)
    finally:
        con.close()
    lines = ["  The loop (policy.yaml): " + ", ".join(f"{n} {s}" for s, n in statuses), *send_times]
    if writes:
        lines.append("  Vendor writes (results.action_log, newest first):")
        for platform, kind, entity, field, before, after, status, mode in writes:
            dry = " (dry run)" if mode == "dry_run" else ""
            lines.append(
                f"    {platform} {kind} {entity} {field}: {_short(before)} -> {_short(after)} [{status}{dry}]"
            )
    if pending:
        lines.append("  Waiting for your approval (`loopwise actions approve ID --by NAME`):")
        for action_id, platform, target, payload, reason in pending:
            lines.append(f"    {action_id} {platform} {target} {_change(payload)}: {reason}")
    return lines


def _send_time_lines(con: Any) -> list[str]:
    """Campaigns Loopwise sent at each contact's hour, and their arms (results.send_time_assignments)."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'results' "
        "and table_name = 'send_time_assignments'"
    ).fetchall()[0][0]
    if not found:
        return []
    campaigns, clones, recipients = con.execute(
        "select count(distinct parent_campaign_id), count(distinct campaign_id), count(*) "
        "from results.send_time_assignments"
    ).fetchall()[0]
    arms = con.execute(
        "select arm, count(*) from results.send_time_assignments group by arm order by arm"
    ).fetchall()
    if not recipients:
        return []
    return [
        f"  Send time: {campaigns} campaigns sent at each contact's own local hour ({recipients:,} recipients in "
        f"{clones} hourly clones; "
        + ", ".join(f"{arm} {n:,}" for arm, n in arms)
        + "; results.send_time_assignments)"
    ]


def _content_lines(con: Any) -> list[str]:
    """Campaigns whose content angle Loopwise chose per recipient (results.content_assignments)."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'results' "
        "and table_name = 'content_assignments'"
    ).fetchall()[0][0]
    if not found:
        return []
    campaigns, recipients = con.execute(
        "select count(distinct campaign_id), count(*) from results.content_assignments"
    ).fetchall()[0]
    if not recipients:
        return []
    arms = con.execute(
        "select arm, count(*) from results.content_assignments group by arm order by arm"
    ).fetchall()
    angles = con.execute(
        "select angle, count(*) from results.content_assignments where arm = 'personalized' "
        "group by angle order by count(*) desc, angle"
    ).fetchall()
    return [
        f"  Content: {campaigns} campaigns with each contact's preferred approved angle ({recipients:,} recipients; "
        + ", ".join(f"{arm} {n:,}" for arm, n in arms)
        + "; personalized angles "
        + ", ".join(f"{angle} {n:,}" for angle, n in angles)
        + "; results.content_assignments)"
    ]


def _short(value: Any, at_most: int = 90) -> Any:
    """A logged value cut for the summary (a content template runs to hundreds of characters;
    results.action_log keeps it whole)."""
    text = str(value)
    return text if len(text) <= at_most else text[: at_most - 3] + "..."


def _change(payload: str) -> str:
    import json

    try:
        values = json.loads(payload)
    except (TypeError, ValueError):
        return ""
    if "daily_budget" in values:
        return f"daily budget {values.get('current_daily_budget')} -> {values['daily_budget']} {values.get('currency') or ''}".rstrip()
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
