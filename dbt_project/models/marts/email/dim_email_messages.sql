-- One row per email message (campaign variant or flow step message) with its subject line: what
-- each arm of an A/B test said, for the learnings' factor/level mapping.
with

messages as (
    select * from {{ ref('int_email_messages_unioned') }}
),

final as (
    select
        messages.message_id,
        messages.send_type,
        messages.campaign_id,
        messages.flow_id,
        messages.flow_action_id,
        messages.step_position,
        messages.variant_label,
        messages.subject
    from messages
)

select * from final
