{#-
    The record behind `unique` tests on increments (macros/unique_test.sql), DuckDB only: per test,
    the newest value of its increment column when it last passed.
-#}
{% macro tested_increments_table() -%}
    quality.dbt_tested_increments
{%- endmacro %}

{#- The key of a `unique` test in the record: the tested relation, its column and increment column. -#}
{% macro tested_increment_key(schema, identifier, column_name, increment_column) -%}
    {{ schema ~ '.' ~ identifier ~ ':' ~ column_name ~ ':' ~ increment_column }}
{%- endmacro %}

{#- on-run-start: the record's table. -#}
{% macro create_tested_increments_table() -%}
    {%- if execute and target.type == 'duckdb' -%}
        {%- do run_query('create schema if not exists quality') -%}
        {%- do run_query(
            'create table if not exists ' ~ tested_increments_table() ~ ' ('
            ~ 'test_key varchar not null, checked_through varchar not null, recorded_at timestamp not null)'
        ) -%}
    {%- endif -%}
{%- endmacro %}

{#- The increment value up to which a `unique` test last passed on `model`; none to check every row. -#}
{% macro tested_increment_through(model, column_name, increment_column) -%}
    {%- if not execute or increment_column is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set key = tested_increment_key(model.schema, model.identifier, column_name, increment_column) -%}
    {%- set found = run_query(
        'select max(checked_through) from ' ~ tested_increments_table() ~ " where test_key = '" ~ key ~ "'"
    ) -%}
    {{ return(found.columns[0].values()[0]) }}
{%- endmacro %}

{#-
    on-run-end: for each `unique` test with an increment column that passed in this invocation, the
    newest value of that column in its relation now (nothing writes a relation after its tests in a
    build).
-#}
{% macro record_tested_increments(results) -%}
    {%- if execute and target.type == 'duckdb' -%}
        {%- for result in results if result.node.resource_type == 'test' and result.status == 'pass' -%}
            {#- generic tests only: a singular test has no test_metadata -#}
            {%- set metadata = result.node.to_dict().get('test_metadata') or {} -%}
            {%- set kwargs = metadata.get('kwargs') or {} -%}
            {%- if metadata.get('name') == 'unique' and kwargs.get('increment_column') -%}
            {%- set tested = graph.nodes[result.node.attached_node] -%}
            {%- set relation = api.Relation.create(database=tested.database, schema=tested.schema, identifier=tested.alias) -%}
            {%- set key = tested_increment_key(tested.schema, tested.alias, kwargs['column_name'], kwargs['increment_column']) -%}
            {%- do run_query(
                'insert into ' ~ tested_increments_table()
                ~ " select '" ~ key ~ "', cast(max(" ~ kwargs['increment_column'] ~ ') as varchar), current_timestamp'
                ~ ' from ' ~ relation ~ ' having max(' ~ kwargs['increment_column'] ~ ') is not null'
            ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
