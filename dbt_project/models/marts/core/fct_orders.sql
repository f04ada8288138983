with

orders as (
    select * from {{ ref('int_orders_attributed') }}
),

final as (
    select
        orders.order_event_id,
        orders.order_id,
        orders.contact_id,
        orders.klaviyo_profile_id,
        orders.ordered_at,
        orders.order_value,
        orders.currency,
        orders.attributed_email_send_id,
        orders.is_attributed
    from orders
)

select * from final
