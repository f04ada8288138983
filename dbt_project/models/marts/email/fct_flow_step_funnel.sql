with

flow_messages as (
    select * from {{ ref('int_email_messages_unioned') }}
    where send_type = 'flow'
),

flows as (
    select * from {{ ref('stg_klaviyo__flows') }}
),

sends as (
    select * from {{ ref('fct_email_sends') }}
    where send_type = 'flow'
),

message_totals as (
    select
        sends.message_id,
        count(*) as recipients,
        cast(count_if(sends.is_delivered) as bigint) as delivered,
        cast(count_if(sends.is_opened) as bigint) as opens,
        cast(count_if(sends.is_human_opened) as bigint) as human_opens,
        cast(count_if(sends.is_clicked) as bigint) as clicks,
        cast(count_if(sends.is_converted) as bigint) as conversions,
        sum(sends.attributed_revenue) as revenue
    from sends
    group by sends.message_id
),

steps as (
    select
        flow_messages.flow_id,
        flows.flow_name,
        flow_messages.flow_action_id,
        flow_messages.step_position,
        flow_messages.message_id,
        flow_messages.variant_label,
        coalesce(message_totals.recipients, 0) as recipients,
        coalesce(message_totals.delivered, 0) as delivered,
        coalesce(message_totals.opens, 0) as opens,
        coalesce(message_totals.human_opens, 0) as human_opens,
        coalesce(message_totals.clicks, 0) as clicks,
        coalesce(message_totals.conversions, 0) as conversions,
        coalesce(message_totals.revenue, 0) as revenue
    from flow_messages
    left join flows
        on flow_messages.flow_id = flows.flow_id
    left join message_totals
        on flow_messages.message_id = message_totals.message_id
),

step_totals as (
    -- all variants of a step together, to compare steps
    select
        steps.flow_id,
        steps.step_position,
        sum(steps.recipients) as step_recipients
    from steps
    group by steps.flow_id, steps.step_position
),

flow_entries as (
    select
        step_totals.flow_id,
        step_totals.step_recipients as first_step_recipients
    from step_totals
    qualify row_number() over (partition by step_totals.flow_id order by step_totals.step_position) = 1
),

final as (
    select
        steps.flow_id,
        steps.flow_name,
        steps.flow_action_id,
        steps.step_position,
        steps.message_id,
        steps.variant_label,
        steps.recipients,
        steps.delivered,
        steps.opens,
        steps.human_opens,
        steps.clicks,
        steps.conversions,
        steps.revenue,
        {{ safe_divide('step_totals.step_recipients', 'flow_entries.first_step_recipients') }}
            as step_retention_rate,
        {{ safe_divide('steps.conversions', 'steps.delivered') }} as conversion_rate
    from steps
    left join step_totals
        on
            steps.flow_id = step_totals.flow_id
            and steps.step_position is not distinct from step_totals.step_position
    left join flow_entries
        on steps.flow_id = flow_entries.flow_id
)

select * from final
