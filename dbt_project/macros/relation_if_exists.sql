{#-
    A table that may not exist yet (dlt creates a dataset's `quarantine` table only when its first
    row arrives): the table when it exists, otherwise an empty relation with the given columns
    ({name: type}). Not a dbt source: the ingestion assets do not expose it (it is a table variant
    of the vendor resources), and two sources may not share one Dagster asset key.
-#}
{% macro relation_if_exists(schema, identifier, columns) -%}
    {%- set found = execute and adapter.get_relation(
        database=target.database, schema=schema, identifier=identifier
    ) -%}
    {%- if found -%}
        {{ found }}
    {%- else -%}
        (
            select
                {%- for name, type in columns.items() %}
                    cast(null as {{ column_type(type) }}) as {{ name }}{{ "," if not loop.last }}
                {%- endfor %}
            where false
        )
    {%- endif -%}
{%- endmacro %}

{#-
    A declared dbt source table that a warehouse loaded before its dlt resource existed does not
    have yet: the table when it exists, otherwise an empty relation with the given columns.
    Calling `source()` keeps the dependency in the manifest, so dlt -> dbt lineage stays whole.
-#}
{% macro source_if_exists(source_name, table_name, columns) -%}
    {%- set declared = source(source_name, table_name) -%}
    {{ relation_if_exists(declared.schema, declared.identifier, columns) }}
{%- endmacro %}
