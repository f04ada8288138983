{#-
    dbt's `unique` test, in two passes on DuckDB: group the keys' 8-byte hashes first, then the keys
    themselves only where a hash repeats (a hash collision is then discarded). Grouping millions of
    string keys at once cost the daily build about a third more on the large world
    (benchmarks/results/foundation_large.md); the failing rows are the same as dbt's own test.

    With `increment_column` (a column that only grows with each write: dlt's load id, or dbt_built_at
    on the incremental models), the first pass takes only the keys of the rows written after the
    last build in which this same test passed, and the second looks for each of them among every
    row. That finds every duplicate: the rows kept since that build were unique when it passed, and
    a later write only deletes rows or adds newer ones, so a new duplicate always has a newer row.
    A failed or skipped test records nothing, so its rows are checked again by the next build. The
    record is quality.dbt_tested_increments, written by the on-run-end hook
    (macros/tested_increments.sql); with none (a first build, a new test) every row is checked.
-#}
{% test unique(model, column_name, increment_column=none) %}
    {%- if target.type == 'duckdb' %}
        {%- set checked_through = tested_increment_through(model, column_name, increment_column) %}
        with repeated_hashes as (
            select {% if checked_through is not none %}distinct {% endif %}hash({{ column_name }}) as key_hash
            from {{ model }}
            where
                {{ column_name }} is not null
                {%- if checked_through is not none %}
                    and {{ increment_column }} > '{{ checked_through }}'
                {%- endif %}
            {%- if checked_through is none %}
                group by hash({{ column_name }})
                having count(*) > 1
            {%- endif %}
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
