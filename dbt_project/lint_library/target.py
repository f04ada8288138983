"""``target`` for sqlfluff's jinja templater (``make lint``): the models are linted as DuckDB's."""

type = "duckdb"  # noqa: A001
name = "local"
