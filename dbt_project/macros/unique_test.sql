{#-
    dbt's `unique` test, in two passes on DuckDB: group the keys' 8-byte hashes first, then the keys
    themselves only where a hash repeats (a hash collision is then discarded). Grouping millions of
    string keys at once cost the daily build about a third more on the large world
    (benchmarks/results/foundation_large.md); the failing rows are the same as dbt's own test.
-#}
{% test unique(model, column_name) %}
    {%- if target.type == 'duckdb' %}
        with repeated_hashes as (
            select hash({{ column_name }}) as key_hash
            from {{ model }}
            where {{ column_name }} is not null
            group by hash({{ column_name }})
            having count(*) > 1
        )

        select
            {{ column_name }} as unique_field,
            count(*) as n_records
        from {{ model }}
        where
            {{ column_name }} is not null
            and hash({{ column_name }}) in (select repeated_hashes.key_hash from repeated_hashes)
        group by {{ column_name }}
        having count(*) > 1
    {%- else %}
        {{ dbt.default__test_unique(model, column_name) }}
    {%- endif %}
{% endtest %}
