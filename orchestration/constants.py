"""Names shared across the code location."""

# DuckDB allows one read-write process per file: every asset or check that opens the
# warehouse for writing runs in this pool (limit 1 in the instance's dagster.yaml).
WAREHOUSE_WRITER_POOL = "duckdb_warehouse"
# On Spark (LOOPWISE_ENGINE=spark) raw loads write the lake and dbt writes Spark's warehouse, not
# the DuckDB file, so they leave that pool: each source's loads take turns (one dlt pipeline
# directory and incremental state per source) while different sources load side by side, and
# dbt builds take turns (its target directory; the local session's Derby metastore takes one JVM).
DBT_BUILD_POOL = "dbt_build"


def raw_load_pool(source_name: str) -> str:
    """The pool of a source's raw load: the DuckDB writer pool, or on Spark one of its own."""
    from core.settings import engine

    return f"lake_{source_name}" if engine() == "spark" else WAREHOUSE_WRITER_POOL


def dbt_build_pool() -> str:
    """The pool of the dbt build: the DuckDB writer pool, or on Spark :data:`DBT_BUILD_POOL`."""
    from core.settings import engine

    return DBT_BUILD_POOL if engine() == "spark" else WAREHOUSE_WRITER_POOL


# Asset groups are the pipeline's layers, in lineage order; the UI's graph reads left to right.
# The domain (email, crm, ads, budget, ...) and the vendor are tags, the technology a kind.
INGESTION = "ingestion"  # dlt: one asset per raw vendor table
STAGING = "staging"  # dbt models/staging
INTERMEDIATE = "intermediate"  # dbt models/intermediate
MARTS = "marts"  # dbt models/marts/<domain>
DECISIONS = "decisions"  # the decision engine's results tables: scores, experiments, budget, anomalies
ACTIONS = "actions"  # the governed loop: action queue, vendor writes, decision log
BI = "bi"  # the read-only snapshot BI tools open
REPORTS = "reports"  # reports for people: the weekly digest
LAYERS = (INGESTION, STAGING, INTERMEDIATE, MARTS, DECISIONS, ACTIONS, BI, REPORTS)
