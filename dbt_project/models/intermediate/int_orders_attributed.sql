-- One row per Klaviyo order, credited (last touch) to the most recent email the person opened
-- as a human or clicked within var('attribution_window_days') before the order.
{{ config(materialized='table') }}

with

events as (
    select * from {{ ref('int_email_events_enriched') }}
),

orders as (
    select
        events.event_id as order_event_id,
        events.order_id,
        events.klaviyo_profile_id,
        events.contact_id,
        events.attribution_key,
        events.occurred_at as ordered_at,
        coalesce(events.order_value, 0) as order_value,
        events.currency
    from events
    where events.event_type = 'placed_order'
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
            >= {{ dateadd('day', -1 * (var('attribution_window_days') | int), 'orders.ordered_at') }}
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
        last_touches.email_send_id is not null as is_attributed
    from orders
    left join last_touches
        on orders.order_event_id = last_touches.order_event_id
)

select * from final
