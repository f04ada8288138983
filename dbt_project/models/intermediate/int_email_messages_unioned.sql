-- One row per email message (campaign variant or flow step message) with what it belongs to.
with

campaign_messages as (
    select * from {{ ref('stg_klaviyo__campaign_messages') }}
),

flow_messages as (
    select * from {{ ref('stg_klaviyo__flow_messages') }}
),

flow_actions as (
    select * from {{ ref('stg_klaviyo__flow_actions') }}
),

campaign_message_rows as (
    select
        campaign_messages.message_id,
        'campaign' as send_type,
        campaign_messages.campaign_id,
        cast(null as string) as flow_id,
        cast(null as string) as flow_action_id,
        cast(null as bigint) as step_position,
        campaign_messages.variant_label,
        campaign_messages.subject
    from campaign_messages
),

flow_message_rows as (
    select
        flow_messages.message_id,
        'flow' as send_type,
        cast(null as string) as campaign_id,
        coalesce(flow_messages.flow_id, flow_actions.flow_id) as flow_id,
        flow_messages.flow_action_id,
        flow_actions.step_position,
        flow_messages.variant_label,
        flow_messages.subject
    from flow_messages
    left join flow_actions
        on flow_messages.flow_action_id = flow_actions.flow_action_id
),

unioned as (
    select * from campaign_message_rows
    union all
    select * from flow_message_rows
),

final as (
    select * from unioned
    qualify row_number() over (partition by message_id order by send_type) = 1
)

select * from final
