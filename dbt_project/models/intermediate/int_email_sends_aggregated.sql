-- One row per email send (Klaviyo profile x message) with its delivery and engagement flags.
-- Incremental: a run re-aggregates, from all their events, the sends with an event that
-- int_email_events_enriched wrote since this table was built (its dbt_built_at), and replaces them.
-- That table writes every new or late event and rewrites every event whose profile now resolves
-- to another person or whose metric was renamed, so this one always equals a full build. It
-- assumes the clock moves forward between builds, as dbt's own snapshots do.
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

email_events as (
    select * from {{ ref('int_email_events_enriched') }}
    where
        email_send_id is not null
        and event_type in ('received', 'bounced', 'opened', 'clicked', 'marked_spam', 'unsubscribed')
        {% if is_incremental() %}
            and email_send_id in (
                -- the sends with an event the events table wrote since this table was built: new and
                -- late events, and every event it rewrote (its profile is now another person's, its
                -- metric was renamed)
                select rewritten.email_send_id
                from {{ ref('int_email_events_enriched') }} as rewritten
                where
                    rewritten.email_send_id is not null
                    and rewritten.dbt_built_at > {{ this_built_at() }}
            )
        {% endif %}
),

aggregated as (
    select
        email_events.email_send_id,
        email_events.message_id,
        email_events.klaviyo_profile_id,
        max(email_events.contact_id) as contact_id,
        max(email_events.flow_id) as event_flow_id,
        max(email_events.ab_test_phase) as ab_test_phase,
        coalesce(
            min(case when email_events.event_type in ('received', 'bounced') then email_events.occurred_at end),
            min(email_events.occurred_at)
        ) as sent_at,
        bool_or(email_events.event_type = 'received') as is_received,
        bool_or(email_events.event_type = 'bounced') as is_bounced,
        bool_or(email_events.event_type = 'opened') as is_opened,
        bool_or(email_events.event_type = 'opened' and not email_events.is_machine_open) as is_human_opened,
        min(case when email_events.event_type = 'opened' then email_events.occurred_at end) as first_opened_at,
        bool_or(email_events.event_type = 'clicked') as is_clicked,
        min(case when email_events.event_type = 'clicked' then email_events.occurred_at end) as first_clicked_at,
        bool_or(email_events.event_type = 'unsubscribed') as is_unsubscribed,
        bool_or(email_events.event_type = 'marked_spam') as is_spam_complaint
    from email_events
    group by
        email_events.email_send_id,
        email_events.message_id,
        email_events.klaviyo_profile_id
),

final as (
    select
        email_send_id,
        message_id,
        klaviyo_profile_id,
        contact_id,
        event_flow_id,
        ab_test_phase,
        sent_at,
        is_received,
        is_received and not is_bounced as is_delivered,
        is_bounced,
        is_opened,
        is_opened and not is_human_opened as is_machine_open_only,
        is_human_opened,
        first_opened_at,
        is_clicked,
        first_clicked_at,
        is_unsubscribed,
        is_spam_complaint,
        {{ build_started_at() }} as dbt_built_at
    from aggregated
)

select * from final
