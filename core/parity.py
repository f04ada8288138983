"""Engine parity: the same model built on DuckDB and on Spark, compared row for row.

Rows are compared as multisets (order is meaningless in a table): both sides are sorted on
every column, exact columns first; text, dates, timestamps and booleans must be equal, numbers
equal within ``rtol`` relative (sums in another order differ in the last bits); integers on both
sides must be equal exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12
"""For values that should be zero and come out as 1e-17 after a sum in another order."""
BUILD_STAMP_COLUMN = "dbt_built_at"
"""On the incremental dbt models: when the build that wrote the row started. Two builds differ
there by design; a row not written since a passing gate still holds the values it validated."""


@dataclass
class TableParity:
    name: str
    duckdb_rows: int
    spark_rows: int
    problems: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.problems


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as naive UTC, decimals as floats, integers as Int64 (DuckDB and Spark type them apart)."""
    out = {}
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = series.astype("datetime64[us]")
        elif series.dtype == object and series.map(lambda v: hasattr(v, "as_tuple")).any():
            series = series.astype(float)  # Decimal
        elif pd.api.types.is_bool_dtype(series.dtype):
            series = series.astype("boolean")
        elif pd.api.types.is_integer_dtype(series.dtype):
            series = series.astype("Int64")
        elif pd.api.types.is_numeric_dtype(series.dtype):
            series = series.astype("float64")
        out[column] = series.reset_index(drop=True)
    return pd.DataFrame(out)


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _is_integer(series: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(series.dtype)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    numeric = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c].dtype)]
    exact = [c for c in frame.columns if c not in numeric]
    keys = pd.DataFrame({c: frame[c].astype("string") for c in exact})
    for column in numeric:  # ties on the exact columns: order by the numbers, rounded
        keys[column] = frame[column].round(6)
    order = keys.sort_values(list(keys.columns), na_position="last", kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def compare_frames(name: str, duckdb_frame: pd.DataFrame, spark_frame: pd.DataFrame) -> TableParity:
    result = TableParity(name, len(duckdb_frame), len(spark_frame))
    if list(duckdb_frame.columns) != list(spark_frame.columns):
        result.problems.append(f"columns differ: {list(duckdb_frame.columns)} vs {list(spark_frame.columns)}")
        return result
    if len(duckdb_frame) != len(spark_frame):
        result.problems.append(f"row counts differ: {len(duckdb_frame)} vs {len(spark_frame)}")
        return result
    left, right = _sorted(_normalised(duckdb_frame)), _sorted(_normalised(spark_frame))
    for column in left.columns:
        a, b = left[column], right[column]
        if _is_number(a) and _is_number(b) and not (_is_integer(a) and _is_integer(b)):
            x = a.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            y = b.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            close = np.isclose(x, y, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE, equal_nan=True)
        else:
            x, y = a.astype("string"), b.astype("string")
            close = ((x == y) | (x.isna() & y.isna())).fillna(False).to_numpy(dtype=bool)
        if not close.all():
            first = int(np.argmin(close))
            result.problems.append(
                f"{column}: {int((~close).sum())} of {len(close)} rows differ (e.g. {a.tolist()[first]!r} vs {b.tolist()[first]!r})"
            )
    return result


def compare_warehouses(
    duckdb_warehouse: str | Path, spark_warehouse: str | Path, schema: str = "marts"
) -> list[TableParity]:
    """Every ``schema`` table of the DuckDB warehouse against the Parquet table Spark wrote for it."""
    import duckdb

    from core.lake import spark_model_tables

    spark_tables = spark_model_tables(spark_warehouse, schemas=(schema,))
    results: list[TableParity] = []
    with duckdb.connect(str(duckdb_warehouse), read_only=True) as con:
        duckdb_tables = [
            f"{schema}.{name}"
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]
            ).fetchall()
        ]
        for name in sorted(set(duckdb_tables) | set(spark_tables)):
            if name not in spark_tables or name not in duckdb_tables:
                where = "Spark" if name not in spark_tables else "DuckDB"
                results.append(TableParity(name, 0, 0, [f"missing on {where}"]))
                continue
            duckdb_frame = con.execute(f"select * from {name}").df()
            spark_frame = con.execute(f"select * from read_parquet('{spark_tables[name]}/*.parquet')").df()
            # when each build started: two builds differ there by design
            duckdb_frame, spark_frame = (
                frame.drop(columns=[BUILD_STAMP_COLUMN], errors="ignore")
                for frame in (duckdb_frame, spark_frame)
            )
            results.append(compare_frames(name, duckdb_frame, spark_frame))
    return results


def report(results: list[TableParity]) -> str:
    lines = [f"{'table':<48} {'duckdb':>9} {'spark':>9}  result"]
    for item in results:
        verdict = "equal" if item.equal else "; ".join(item.problems)
        lines.append(f"{item.name:<48} {item.duckdb_rows:>9} {item.spark_rows:>9}  {verdict}")
    return "\n".join(lines)


def as_rows(results: list[TableParity]) -> list[dict[str, Any]]:
    return [
        {"table": r.name, "duckdb_rows": r.duckdb_rows, "spark_rows": r.spark_rows, "problems": r.problems}
        for r in results
    ]
