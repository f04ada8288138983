-- One row per email send with its engagement and last-touch attributed orders. Incremental:
-- a run rebuilds the sends int_email_sends_aggregated rewrote since this table was built (new,
-- late or rewritten events: see that model) and the sends whose credited orders changed (a new
-- or corrected order, or a late touch that moves an order's credit), so it always equals a full
-- build but for message labels changed after a send (those wait for --full-refresh).
{{
    config(
        materialized=incremental_or_table(),
        unique_key='email_send_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
{{ require_built_column('dbt_built_at') }}

with

messages as (
    select * from {{ ref('int_email_messages_unioned') }}
),

attributed_orders as (
    select * from {{ ref('int_orders_attributed') }}
    where is_attributed
),

order_totals as (
    select
        attributed_orders.attributed_email_send_id as email_send_id,
        count(*) as attributed_order_count,
        sum(attributed_orders.order_value) as attributed_revenue,
        min(attributed_orders.ordered_at) as first_ordered_at
    from attributed_orders
    group by attributed_orders.attributed_email_send_id
),

sends as (
    select * from {{ ref('int_email_sends_aggregated') }}
    {% if is_incremental() %}
        where email_send_id in (
            select rewritten.email_send_id
            from {{ ref('int_email_sends_aggregated') }} as rewritten
            where
                rewritten.dbt_built_at > {{ this_built_at() }}

            union

            -- credited now or when this table was built, with other totals now
            select coalesce(now_credited.email_send_id, was_credited.email_send_id) as email_send_id
            from order_totals as now_credited
            full outer join (
                select
                    credited.email_send_id,
                    credited.attributed_order_count,
                    credited.attributed_revenue,
                    credited.first_ordered_at
                from {{ this }} as credited
                where credited.attributed_order_count > 0
            ) as was_credited
                on now_credited.email_send_id = was_credited.email_send_id
            where
                now_credited.attributed_order_count is distinct from was_credited.attributed_order_count
                or now_credited.attributed_revenue is distinct from was_credited.attributed_revenue
                or now_credited.first_ordered_at is distinct from was_credited.first_ordered_at
        )
    {% endif %}
),

final as (
    select
        sends.email_send_id,
        sends.message_id,
        case
            when messages.send_type is not null then messages.send_type
            when sends.event_flow_id is not null then 'flow'
            else 'campaign'
        end as send_type,
        messages.campaign_id,
        coalesce(messages.flow_id, sends.event_flow_id) as flow_id,
        messages.flow_action_id,
        messages.variant_label,
        sends.ab_test_phase,
        sends.contact_id,
        sends.klaviyo_profile_id,
        sends.sent_at,
        sends.is_delivered,
        sends.is_bounced,
        sends.is_opened,
        sends.is_machine_open_only,
        sends.is_human_opened,
        sends.first_opened_at,
        sends.is_clicked,
        sends.first_clicked_at,
        sends.is_unsubscribed,
        sends.is_spam_complaint,
        coalesce(order_totals.attributed_order_count, 0) > 0 as is_converted,
        coalesce(order_totals.attributed_order_count, 0) as attributed_order_count,
        coalesce(order_totals.attributed_revenue, 0) as attributed_revenue,
        order_totals.first_ordered_at,
        {{ build_started_at() }} as dbt_built_at
    from sends
    left join messages
        on sends.message_id = messages.message_id
    left join order_totals
        on sends.email_send_id = order_totals.email_send_id
)

select * from final
