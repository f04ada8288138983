"""Names shared across the code location."""

# DuckDB allows one read-write process per file: every asset or check that opens the
# warehouse for writing runs in this pool (limit 1 in the instance's dagster.yaml).
WAREHOUSE_WRITER_POOL = "duckdb_warehouse"
