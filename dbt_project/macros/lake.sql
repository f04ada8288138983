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
        {#- created only when missing: Hive's metastore logs an error for each `if not exists` that exists -#}
        {%- set databases = run_query('show databases').columns[0].values() | list -%}
        {%- for name in fromjson(env_var('LOOPWISE_LAKE_TABLES', '[]')) -%}
            {%- set schema, table = name.split('.') -%}
            {%- if schema not in databases -%}
                {%- do run_query('create database ' ~ schema) -%}
                {%- do databases.append(schema) -%}
            {%- endif -%}
            {#- dropped and made again: a table whose columns changed is read with its new schema -#}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {#- mergeSchema: dlt appends a file per load, and a later load may carry a new column -#}
            {%- do run_query(
                'create table ' ~ name ~ " using parquet options ('mergeSchema' 'true') location '"
                ~ lake ~ '/' ~ schema ~ '/' ~ table ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
