{#- A timestamp with time zone as a naive UTC timestamp, whatever the session time zone. -#}
{% macro to_utc(column) -%}
    timezone('UTC', cast({{ column }} as timestamptz))
{%- endmacro %}

{#- A Unix epoch string (dlt's _dlt_load_id) as a UTC timestamp, for source freshness. -#}
{% macro dlt_loaded_at() -%}
    to_timestamp(cast(_dlt_load_id as double))
{%- endmacro %}

{#- Null-safe ratio: null when the denominator is zero or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}
