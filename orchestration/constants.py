"""Names shared across the code location."""

# DuckDB allows one read-write process per file: every asset or check that opens the
# warehouse for writing runs in this pool (limit 1 in the instance's dagster.yaml).
WAREHOUSE_WRITER_POOL = "duckdb_warehouse"

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
