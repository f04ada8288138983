-- One row per journey: a Klaviyo profile's entry into a flow, its steps and how it left.
-- A send of step k belongs to the entry at (its scheduled hour - the step's delay from the
-- trigger), so a contact who re-enters a flow has one journey per entry. The step delays come
-- from the flow definition (stg_klaviyo__flow_actions.delay_days, days from the trigger); a step
-- without one gets the median gap between its sends and the same profile's latest earlier
-- first-step send (delay_source says which). Journeys whose next step is not due yet at the
-- data's end are still_waiting (censored), never dropped: see the exit_reason rules below.
--
-- Incremental (DuckDB): a run rebuilds every journey of the profiles whose journeys can have
-- changed (profiles_to_rebuild below) from all their events, and replaces them; the others are
-- final. data_as_of is then moved to the newest event on every row (a post-hook), so the table
-- equals a full rebuild (tests/dbt/test_dbt_incremental.py). On Spark a table, rebuilt whole.
{{
    config(
        materialized=incremental_or_table(),
        unique_key='klaviyo_profile_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ move_flow_journeys_data_as_of() }}",
    )
}}
-- depends_on: {{ ref('int_contact_identities_unioned') }}
{% set grace_hours = 1 %}

with

messages as (
    select * from {{ ref('int_email_messages_unioned') }}
    where send_type = 'flow'
),

{% if is_incremental() %}
    profiles_to_rebuild as (
        -- a journey changes only through its profile's flow sends and their opens, clicks and
        -- orders, or the profile's terminal events (each an email event in the rebuild window of
        -- macros/incremental_window.sql), or as time passes while its next step is not yet due
        -- (two scans, each filtered by one condition DuckDB pushes into the scan, instead of an OR)
        select recent_events.klaviyo_profile_id
        from {{ ref('int_email_events_enriched') }} as recent_events
        where
            recent_events.occurred_at >= {{ email_rebuild_window_start('data_as_of') }}
            and recent_events.message_id in (select messages.message_id from messages)

        union

        select recent_events.klaviyo_profile_id
        from {{ ref('int_email_events_enriched') }} as recent_events
        where
            recent_events.occurred_at >= {{ email_rebuild_window_start('data_as_of') }}
            and {{ ends_every_journey('recent_events') }}

        union

        -- journeys not yet due, and every journey of a flow whose step delays are inferred from
        -- the sends (each new send can move the median)
        select built.klaviyo_profile_id
        from {{ this }} as built
        where
            (built.next_step is not null and not built.next_step_is_due)
            or built.delay_source is distinct from 'flow_definition'

        union

        select changed.klaviyo_profile_id from {{ klaviyo_profiles_with_another_contact() }} as changed
    ),
{% endif %}

sends as (
    select * from {{ ref('fct_email_sends') }}
    where
        send_type = 'flow'
        {% if is_incremental() %}
            and klaviyo_profile_id in (select profiles_to_rebuild.klaviyo_profile_id from profiles_to_rebuild)
        {% endif %}
),

flow_actions as (
    select * from {{ ref('stg_klaviyo__flow_actions') }}
),

email_events as {{ cte_inline() }} (
    select * from {{ ref('int_email_events_enriched') }}
),

flow_events as (
    -- the events of flow messages (DuckDB pushes the filter on their few ids into the scan)
    select * from email_events
    where
        message_id in (select messages.message_id from messages)
        {% if is_incremental() %}
            and klaviyo_profile_id in (select profiles_to_rebuild.klaviyo_profile_id from profiles_to_rebuild)
        {% endif %}
),

data_end as (
    select max(all_events.occurred_at) as data_as_of
    from {{ ref('int_email_events_enriched') }} as all_events
),

terminal_events as (
    -- events that end every journey of the profile (from any send: campaigns unsubscribe people too)
    select
        email_events.klaviyo_profile_id,
        email_events.occurred_at,
        case email_events.event_type
            when 'unsubscribed' then 'unsubscribed'
            when 'marked_spam' then 'spam_complaint'
            else 'bounced'
        end as terminal_reason
    from email_events
    where
        {{ ends_every_journey('email_events') }}
        {% if is_incremental() %}
            and email_events.klaviyo_profile_id in (
                select profiles_to_rebuild.klaviyo_profile_id from profiles_to_rebuild
            )
        {% endif %}
),

flow_send_events as (
    -- one send per received or bounced event: fct_email_sends has one row per profile and
    -- message, which would merge a re-entered journey's sends into the first journey's
    select
        flow_events.klaviyo_profile_id,
        flow_events.message_id,
        date_trunc('hour', flow_events.occurred_at) as send_hour,
        max(flow_events.contact_id) as contact_id,
        min(flow_events.occurred_at) as sent_at,
        bool_or(flow_events.event_type = 'received') and not bool_or(flow_events.event_type = 'bounced')
            as is_delivered
    from flow_events
    inner join messages
        on flow_events.message_id = messages.message_id
    where flow_events.event_type in ('received', 'bounced')
    group by flow_events.klaviyo_profile_id, flow_events.message_id, date_trunc('hour', flow_events.occurred_at)
),

engagement_sends as (
    -- each open or click belongs to the latest send of its message to the profile before it
    select
        flow_events.event_id,
        flow_events.event_type,
        flow_events.is_machine_open,
        flow_send_events.klaviyo_profile_id,
        flow_send_events.message_id,
        flow_send_events.send_hour
    from flow_events
    inner join flow_send_events
        on
            flow_events.klaviyo_profile_id = flow_send_events.klaviyo_profile_id
            and flow_events.message_id = flow_send_events.message_id
            and flow_events.occurred_at >= flow_send_events.sent_at
    where flow_events.event_type in ('opened', 'clicked')
    qualify row_number() over (partition by flow_events.event_id order by flow_send_events.sent_at desc) = 1
),

engagement as (
    select
        engagement_sends.klaviyo_profile_id,
        engagement_sends.message_id,
        engagement_sends.send_hour,
        bool_or(engagement_sends.event_type = 'opened' and not engagement_sends.is_machine_open) as is_human_opened,
        bool_or(engagement_sends.event_type = 'clicked') as is_clicked
    from engagement_sends
    group by engagement_sends.klaviyo_profile_id, engagement_sends.message_id, engagement_sends.send_hour
),

conversions as (
    -- fct_email_sends credits orders per profile and message: to the latest send before the order
    select
        flow_send_events.klaviyo_profile_id,
        flow_send_events.message_id,
        flow_send_events.send_hour,
        sends.attributed_revenue,
        sends.first_ordered_at
    from sends
    inner join flow_send_events
        on
            sends.klaviyo_profile_id = flow_send_events.klaviyo_profile_id
            and sends.message_id = flow_send_events.message_id
            and sends.first_ordered_at >= flow_send_events.sent_at
    where sends.is_converted
    qualify row_number() over (partition by sends.email_send_id order by flow_send_events.sent_at desc) = 1
),

step_sends as (
    select
        flow_send_events.klaviyo_profile_id,
        flow_send_events.contact_id,
        messages.flow_id,
        messages.flow_action_id,
        messages.step_position,
        flow_send_events.sent_at,
        flow_send_events.is_delivered,
        coalesce(engagement.is_human_opened, false) as is_human_opened,
        coalesce(engagement.is_clicked, false) as is_clicked,
        conversions.first_ordered_at is not null as is_converted,
        coalesce(conversions.attributed_revenue, 0) as attributed_revenue,
        conversions.first_ordered_at
    from flow_send_events
    inner join messages
        on flow_send_events.message_id = messages.message_id
    left join engagement
        on
            flow_send_events.klaviyo_profile_id = engagement.klaviyo_profile_id
            and flow_send_events.message_id = engagement.message_id
            and flow_send_events.send_hour = engagement.send_hour
    left join conversions
        on
            flow_send_events.klaviyo_profile_id = conversions.klaviyo_profile_id
            and flow_send_events.message_id = conversions.message_id
            and flow_send_events.send_hour = conversions.send_hour
    where messages.step_position is not null
),

first_step_sends as (
    select
        step_sends.klaviyo_profile_id,
        step_sends.flow_id,
        step_sends.sent_at
    from step_sends
    where step_sends.step_position = 1
),

inferred_delays as (
    -- steps without a defined delay: median days since the profile's latest earlier first-step send
    select
        gaps.flow_action_id,
        round(median(gaps.gap_days)) as inferred_delay_days
    from (
        select
            step_sends.klaviyo_profile_id,
            step_sends.flow_action_id,
            cast({{ datediff('max(first_step_sends.sent_at)', 'step_sends.sent_at', 'hour') }} as double) / 24
                as gap_days
        from step_sends
        inner join first_step_sends
            on
                step_sends.klaviyo_profile_id = first_step_sends.klaviyo_profile_id
                and step_sends.flow_id = first_step_sends.flow_id
                and step_sends.sent_at >= first_step_sends.sent_at
        group by step_sends.klaviyo_profile_id, step_sends.flow_action_id, step_sends.sent_at
    ) as gaps
    group by gaps.flow_action_id
),

step_delays as (
    select
        flow_actions.flow_id,
        flow_actions.flow_action_id,
        flow_actions.step_position,
        cast(coalesce(flow_actions.delay_days, inferred_delays.inferred_delay_days, 0) as bigint) as delay_days,
        case
            when flow_actions.delay_days is not null then 'flow_definition'
            when inferred_delays.inferred_delay_days is not null then 'inferred_median_gap'
            else 'unknown_assumed_zero'
        end as delay_source
    from flow_actions
    left join inferred_delays
        on flow_actions.flow_action_id = inferred_delays.flow_action_id
    where flow_actions.step_position is not null
),

flow_steps as (
    select
        step_delays.flow_id,
        max(step_delays.step_position) as final_step,
        max(step_delays.delay_source) as delay_source
    from step_delays
    group by step_delays.flow_id
),

dated_sends as (
    select
        step_sends.*,
        step_delays.delay_days,
        {{ dateadd('day', '-1 * step_delays.delay_days', "date_trunc('hour', step_sends.sent_at)") }}
            as entry_ts
    from step_sends
    inner join step_delays
        on step_sends.flow_action_id = step_delays.flow_action_id
),

journeys as (
    select
        dated_sends.klaviyo_profile_id,
        dated_sends.flow_id,
        dated_sends.entry_ts,
        max(dated_sends.contact_id) as contact_id,
        count(distinct dated_sends.step_position) as steps_received,
        min(dated_sends.step_position) as first_step,
        max(dated_sends.step_position) as last_step,
        max(dated_sends.sent_at) as last_step_ts,
        max(dated_sends.delay_days) as last_step_delay_days,
        cast(count_if(dated_sends.is_delivered) as bigint) as steps_delivered,
        cast(count_if(dated_sends.is_human_opened) as bigint) as steps_human_opened,
        cast(count_if(dated_sends.is_clicked) as bigint) as steps_clicked,
        bool_or(dated_sends.is_converted) as is_converted,
        min(dated_sends.first_ordered_at) as first_ordered_at,
        sum(dated_sends.attributed_revenue) as attributed_revenue
    from dated_sends
    group by dated_sends.klaviyo_profile_id, dated_sends.flow_id, dated_sends.entry_ts
),

next_steps as (
    select
        journeys.klaviyo_profile_id,
        journeys.flow_id,
        journeys.entry_ts,
        min(step_delays.step_position) as next_step
    from journeys
    inner join step_delays
        on
            journeys.flow_id = step_delays.flow_id
            and journeys.last_step < step_delays.step_position
    group by journeys.klaviyo_profile_id, journeys.flow_id, journeys.entry_ts
),

next_step_delays as (
    select
        step_delays.flow_id,
        step_delays.step_position,
        min(step_delays.delay_days) as delay_days
    from step_delays
    group by step_delays.flow_id, step_delays.step_position
),

scheduled as (
    select
        journeys.*,
        next_steps.next_step,
        {{ dateadd('day', 'journeys.last_step_delay_days', 'journeys.entry_ts') }} as last_step_due_ts,
        case
            when next_steps.next_step is not null
                then {{ dateadd('day', 'next_step_delays.delay_days', 'journeys.entry_ts') }}
        end as next_step_due_ts
    from journeys
    left join next_steps
        on
            journeys.klaviyo_profile_id = next_steps.klaviyo_profile_id
            and journeys.flow_id = next_steps.flow_id
            and journeys.entry_ts = next_steps.entry_ts
    left join next_step_delays
        on
            next_steps.flow_id = next_step_delays.flow_id
            and next_steps.next_step = next_step_delays.step_position
),

window_exits as (
    -- the earliest terminal event after the last step was due and before the next step was
    -- (the next step goes out within the hour it is due: that hour counts)
    select
        scheduled.klaviyo_profile_id,
        scheduled.flow_id,
        scheduled.entry_ts,
        terminal_events.terminal_reason,
        terminal_events.occurred_at as terminal_ts
    from scheduled
    inner join terminal_events
        on
            scheduled.klaviyo_profile_id = terminal_events.klaviyo_profile_id
            and scheduled.last_step_due_ts <= terminal_events.occurred_at
            and terminal_events.occurred_at < {{ dateadd('hour', grace_hours, 'scheduled.next_step_due_ts') }}
    qualify row_number() over (
        partition by scheduled.klaviyo_profile_id, scheduled.flow_id, scheduled.entry_ts
        order by terminal_events.occurred_at, terminal_events.terminal_reason
    ) = 1
),

classified as (
    select
        scheduled.*,
        window_exits.terminal_reason,
        window_exits.terminal_ts,
        data_end.data_as_of,
        {{ dateadd('hour', grace_hours, 'scheduled.next_step_due_ts') }} as next_step_deadline_ts
    from scheduled
    cross join data_end
    left join window_exits
        on
            scheduled.klaviyo_profile_id = window_exits.klaviyo_profile_id
            and scheduled.flow_id = window_exits.flow_id
            and scheduled.entry_ts = window_exits.entry_ts
),

final as (
    select
        md5(
            classified.klaviyo_profile_id || '|' || classified.flow_id || '|' || cast(classified.entry_ts as string)
        ) as flow_journey_id,
        classified.klaviyo_profile_id,
        classified.contact_id,
        classified.flow_id,
        classified.entry_ts,
        classified.steps_received,
        classified.first_step,
        classified.last_step,
        classified.last_step_ts,
        classified.next_step,
        classified.next_step_due_ts,
        coalesce(classified.next_step_deadline_ts <= classified.data_as_of, false) as next_step_is_due,
        classified.steps_delivered,
        classified.steps_human_opened,
        classified.steps_clicked,
        classified.is_converted,
        classified.attributed_revenue,
        case
            when classified.next_step is null then 'completed_all_steps'
            when classified.terminal_reason is not null then classified.terminal_reason
            when classified.next_step_deadline_ts > classified.data_as_of then 'still_waiting'
            when classified.is_converted then 'converted'
            else 'filtered_out'
        end as exit_reason,
        case
            when classified.next_step is null then classified.last_step_ts
            when classified.terminal_ts is not null then classified.terminal_ts
            when classified.next_step_deadline_ts > classified.data_as_of then null
            when classified.is_converted then classified.first_ordered_at
            else classified.next_step_due_ts
        end as exit_ts,
        flow_steps.delay_source,
        classified.data_as_of
    from classified
    left join flow_steps
        on classified.flow_id = flow_steps.flow_id
)

select * from final
