-- One row per Klaviyo order, credited (last touch) to the most recent email the person opened
-- as a human or clicked within var('attribution_window_days') before the order.
-- Incremental (DuckDB; a table on Spark): a build re-credits the orders whose credit can have
-- changed since this table was built, from every touch of their person: those int_email_order_events
-- wrote since (a new or corrected order, or one whose profile is now another person's), those of the
-- person of a touch it wrote since, up to the attribution window after that touch, and those
-- credited to a send with an event it wrote since (a touch that changed or moved to another
-- person). Its pre-hook deletes the orders that are no longer orders (a renamed metric). So it
-- always equals a full build.
{{
    config(
        materialized=incremental_or_table(),
        unique_key='order_event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ remove_vanished_orders() }}",
    )
}}
{{ require_built_column('dbt_built_at') }}
{%- set window_days = var('attribution_window_days') | int %}

with

events as {{ cte_inline() }} (
    -- read by two parts, each for its own rows and columns (materialized, it held every event)
    select * from {{ ref('int_email_events_enriched') }}
),

order_events as {{ cte_inline() }} (
    -- the orders alone: read from the events, their columns cost every row group
    select * from {{ ref('int_email_order_events') }}
),

{% if is_incremental() %}
    rewritten as (
        select * from events
        where
            dbt_built_at > {{ this_built_at() }}
    ),

    rewritten_touches as (
        select * from rewritten
        where
            email_send_id is not null
            and (
                (event_type = 'opened' and not is_machine_open)
                or event_type = 'clicked'
            )
    ),

    orders_to_credit as (
        -- orders int_email_order_events wrote since: read from there, not from the events, so an
        -- order that reached it after this table was built is credited even when the events table
        -- was built before this one (a build that selected this model but not that one)
        select order_events.event_id as order_event_id
        from order_events
        where order_events.dbt_built_at > {{ this_built_at() }}

        union

        select later_orders.event_id as order_event_id
        from order_events as later_orders
        inner join rewritten_touches
            on
                later_orders.attribution_key = rewritten_touches.attribution_key
                and later_orders.occurred_at >= rewritten_touches.occurred_at
                and later_orders.occurred_at
                <= {{ dateadd('day', window_days, 'rewritten_touches.occurred_at') }}

        union

        select credited.order_event_id
        from {{ this }} as credited
        where credited.attributed_email_send_id in (
            select rewritten.email_send_id from rewritten
            where rewritten.email_send_id is not null
        )
    ),
{% endif %}

orders as (
    select
        order_events.event_id as order_event_id,
        order_events.order_id,
        order_events.klaviyo_profile_id,
        order_events.contact_id,
        order_events.attribution_key,
        order_events.occurred_at as ordered_at,
        coalesce(order_events.order_value, 0) as order_value,
        order_events.currency
    from order_events
    {% if is_incremental() %}
        where order_events.event_id in (select orders_to_credit.order_event_id from orders_to_credit)
    {% endif %}
),

touches as (
    -- machine opens (privacy proxies) are not touches
    select
        events.email_send_id,
        events.attribution_key,
        events.occurred_at as touched_at
    from events
    where
        events.email_send_id is not null
        and (
            (events.event_type = 'opened' and not events.is_machine_open)
            or events.event_type = 'clicked'
        )
        {% if is_incremental() %}
            -- the touches of the orders being credited: their people, in their windows
            and events.attribution_key in (select orders.attribution_key from orders)
            and events.occurred_at
            >= (select {{ dateadd('day', -1 * window_days, 'min(orders.ordered_at)') }} from orders)
        {% endif %}
),

last_touches as (
    select
        orders.order_event_id,
        touches.email_send_id,
        touches.touched_at
    from orders
    inner join touches
        on
            orders.attribution_key = touches.attribution_key
            and orders.ordered_at >= touches.touched_at
            and touches.touched_at
            >= {{ dateadd('day', -1 * window_days, 'orders.ordered_at') }}
    qualify row_number() over (
        partition by orders.order_event_id
        order by touches.touched_at desc, touches.email_send_id desc
    ) = 1
),

final as (
    select
        orders.order_event_id,
        orders.order_id,
        orders.klaviyo_profile_id,
        orders.contact_id,
        orders.ordered_at,
        orders.order_value,
        orders.currency,
        last_touches.email_send_id as attributed_email_send_id,
        last_touches.touched_at as attributed_touch_at,
        last_touches.email_send_id is not null as is_attributed,
        {{ build_started_at() }} as dbt_built_at
    from orders
    left join last_touches
        on orders.order_event_id = last_touches.order_event_id
)

select * from final
