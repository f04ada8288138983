-- Klaviyo's Placed Order events, narrow: int_orders_attributed reads every order at each build.
-- Orders are about 0.6 % of the events and spread over all of them, so reading their columns
-- from int_email_events_enriched decompressed every row group (1-3 s on the large world's 23M
-- events, in every daily build).
-- Incremental (DuckDB; a table on Spark): a build replaces the events int_email_events_enriched
-- wrote since this table was built. Its pre-hook first deletes those that are no longer orders (a
-- renamed metric), so it always equals a full build.
{{
    config(
        materialized=incremental_or_table(),
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ remove_rewritten_non_orders() }}",
    )
}}
{{ require_built_column('dbt_built_at') }}

with

orders as (
    select * from {{ ref('int_email_events_enriched') }}
    where
        event_type = 'placed_order'
        {% if is_incremental() %}
            and dbt_built_at > {{ this_built_at() }}
        {% endif %}
),

final as (
    select
        event_id,
        order_id,
        klaviyo_profile_id,
        contact_id,
        attribution_key,
        occurred_at,
        order_value,
        currency,
        {{ build_started_at() }} as dbt_built_at
    from orders
)

select * from final
