{#- Functions whose name or syntax differs between DuckDB (default__) and Spark (spark__). -#}

{#- A JSON string field at `path` ('$.a.b') of a JSON text column, as text; null when absent. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'loopwise')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_extract_string({{ column }}, '{{ path }}')
{%- endmacro %}

{% macro spark__json_text(column, path) -%}
    get_json_object({{ column }}, '{{ path }}')
{%- endmacro %}

{#- The value of `value` on the row with the largest `ordering` in the group. -#}
{% macro value_at_max(value, ordering) -%}
    {{ return(adapter.dispatch('value_at_max', 'loopwise')(value, ordering)) }}
{%- endmacro %}

{% macro default__value_at_max(value, ordering) -%}
    arg_max({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro spark__value_at_max(value, ordering) -%}
    max_by({{ value }}, {{ ordering }})
{%- endmacro %}

{#- True when `text` matches the regular expression `pattern` anywhere. -#}
{% macro regex_matches(text, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'loopwise')(text, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(text, pattern) -%}
    regexp_matches({{ text }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_matches(text, pattern) -%}
    ({{ text }} rlike '{{ pattern }}')
{%- endmacro %}

{#- regexp_replace whose replacement refers to groups as \1, \2 (DuckDB) or $1, $2 (Spark). -#}
{% macro regex_replace_groups(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_groups', 'loopwise')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace_groups(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro spark__regex_replace_groups(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement | replace("\\", "$") }}')
{%- endmacro %}

{#- Lower-case hex SHA-256 of a text. -#}
{% macro sha256_hex(text) -%}
    {{ return(adapter.dispatch('sha256_hex', 'loopwise')(text)) }}
{%- endmacro %}

{% macro default__sha256_hex(text) -%}
    sha256({{ text }})
{%- endmacro %}

{% macro spark__sha256_hex(text) -%}
    sha2({{ text }}, 256)
{%- endmacro %}

{#- A column type named the DuckDB way (relation_if_exists' column lists), in this engine's words. -#}
{% macro column_type(name) -%}
    {{ return(adapter.dispatch('column_type', 'loopwise')(name)) }}
{%- endmacro %}

{% macro default__column_type(name) -%}
    {{ name }}
{%- endmacro %}

{% macro spark__column_type(name) -%}
    {{ {'timestamptz': 'timestamp', 'timestamp with time zone': 'timestamp'}.get(name, name) }}
{%- endmacro %}

{#- How incremental models are materialized: incrementally on DuckDB (delete+insert), whole on
    Spark, where Parquet tables have no delete (merge needs Delta or Iceberg, not installable
    offline; docs/scaling_out.md). -#}
{% macro incremental_or_table() -%}
    {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{#- UNION ALL BY NAME (DuckDB only) for both engines: each relation's `columns`, selected by name. -#}
{% macro union_all_by_name(relations, columns) -%}
    {%- for relation in relations %}
    select {{ columns | join(', ') }} from {{ relation }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The continuous (linearly interpolated) quantile `fraction` of `value`; nulls ignored. -#}
{% macro quantile_cont(value, fraction) -%}
    {{ return(adapter.dispatch('quantile_cont', 'loopwise')(value, fraction)) }}
{%- endmacro %}

{% macro default__quantile_cont(value, fraction) -%}
    quantile_cont({{ value }}, {{ fraction }})
{%- endmacro %}

{% macro spark__quantile_cont(value, fraction) -%}
    percentile({{ value }}, {{ fraction }})
{%- endmacro %}

{#- One row per day from `start_date` to `end_date` (dates), as a select-list expression. -#}
{% macro each_day(start_date, end_date) -%}
    {{ return(adapter.dispatch('each_day', 'loopwise')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__each_day(start_date, end_date) -%}
    cast(unnest(generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date)
{%- endmacro %}

{% macro spark__each_day(start_date, end_date) -%}
    explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day))
{%- endmacro %}

{#-
    `with x as {{ cte_inline() }} (...)`: DuckDB materializes a CTE read more than once, with every
    column, before its readers filter it; over a mart of millions of rows that spilled to disk and cost
    more than the readers. Inline, each reader scans only its rows and columns. Spark always inlines.
-#}
{% macro cte_inline() -%}
    {{ return('not materialized' if target.type == 'duckdb' else '') }}
{%- endmacro %}
