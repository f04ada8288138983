{#-
    On Spark, the raw tables are Parquet directories in the lake (core/lake.py publishes them):
    register each as an external table of the session's catalog before the build. Which tables,
    and where, come from LOOPWISE_LAKE_TABLES (a JSON list of "raw_x.table") and
    LOOPWISE_LAKE_PATH, which the dbt asset sets. Only on the target named `spark` (the local
    session of profiles.yml): a cluster's raw tables are already in its catalog, and this never
    drops them. On DuckDB it does nothing.
-#}
{% macro register_lake_tables() -%}
    {%- if execute and target.type == 'spark' and target.name == 'spark' -%}
        {%- set lake = env_var('LOOPWISE_LAKE_PATH', '') -%}
        {%- for name in fromjson(env_var('LOOPWISE_LAKE_TABLES', '[]')) -%}
            {%- set schema, table = name.split('.') -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
            {#- dropped and made again: a table whose columns changed is read with its new schema -#}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- do run_query(
                'create table ' ~ name ~ " using parquet location '" ~ lake ~ '/' ~ schema ~ '/' ~ table ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
