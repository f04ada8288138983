-- One row per email send with its engagement and last-touch attributed orders. Incremental:
-- a run rebuilds the sends with an email event in the rebuild window, which covers late events
-- and every send whose credited orders can still change, and the sends whose profile now resolves
-- to another person (macros/incremental_window.sql).
{{
    config(
        materialized=incremental_or_table(),
        unique_key='email_send_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_contact_identities_unioned') }}
-- depends_on: {{ ref('int_email_events_enriched') }}
{{ require_built_column('dbt_built_at') }}

with

sends as (
    select * from {{ ref('int_email_sends_aggregated') }}
    {% if is_incremental() %}
        where
            email_send_id in {{ email_send_ids_to_rebuild(email_rebuild_window_start('sent_at')) }}
            or klaviyo_profile_id in {{ klaviyo_profiles_with_another_contact() }}
    {% endif %}
),

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
