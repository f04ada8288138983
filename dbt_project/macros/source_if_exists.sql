{#-
    A dbt source that may not exist yet (dlt creates a table such as a dataset's `quarantine`
    only when its first row arrives): the source relation when it exists, otherwise an empty
    relation with the given columns ({name: type}). The source() call keeps the lineage.
-#}
{% macro source_if_exists(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = execute and adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {%- if found -%}
        {{ relation }}
    {%- else -%}
        (
            select
                {%- for name, type in columns.items() %}
                    cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
                {%- endfor %}
            where false
        )
    {%- endif -%}
{%- endmacro %}
