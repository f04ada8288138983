{#-
    Engine-specific SQL lives in dispatched macros (adapter.dispatch): a `default__` version for
    DuckDB and a `spark__` one for Spark (docs/scaling_out.md). Models call only these.
-#}

{#- A timestamp with time zone as a naive UTC timestamp, whatever the session time zone. -#}
{% macro to_utc(column) -%}
    {{ return(adapter.dispatch('to_utc', 'loopwise')(column)) }}
{%- endmacro %}

{% macro default__to_utc(column) -%}
    timezone('UTC', cast({{ column }} as timestamptz))
{%- endmacro %}

{#- Spark's timestamps are instants shown in the session time zone, which the profile sets to UTC. -#}
{% macro spark__to_utc(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}

{#- A Unix epoch string (dlt's _dlt_load_id) as a UTC timestamp, for source freshness. -#}
{% macro dlt_loaded_at() -%}
    {{ return(adapter.dispatch('dlt_loaded_at', 'loopwise')()) }}
{%- endmacro %}

{% macro default__dlt_loaded_at() -%}
    to_timestamp(cast(_dlt_load_id as double))
{%- endmacro %}

{% macro spark__dlt_loaded_at() -%}
    timestamp_seconds(cast(_dlt_load_id as double))
{%- endmacro %}

{#- Null-safe ratio: null when the denominator is zero or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}
