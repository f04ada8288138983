"""Names shared across the code location."""

# DuckDB allows one read-write process per file: every asset or check that opens the
# warehouse for writing runs in this pool (limit 1 in the instance's dagster.yaml).
WAREHOUSE_WRITER_POOL = "duckdb_warehouse"

RAW_DATASETS = {
    "klaviyo": "raw_klaviyo",
    "hubspot": "raw_hubspot",
    "meta_ads": "raw_meta_ads",
    "google_ads": "raw_google_ads",
}
