-- Klaviyo events with their metric as a short event type and the person they belong to.
-- Incremental (DuckDB): a run replaces the events loaded since the last build and every event
-- whose profile now resolves to another person or whose metric was renamed, so the table always
-- equals a full rebuild (tests/dbt/test_dbt_incremental.py). On Spark a table, rebuilt whole.
{{
    config(
        materialized=incremental_or_table(),
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ source('klaviyo', 'profiles') }}
{{ require_built_column('dlt_load_id') }}
{{ require_built_column('dbt_built_at') }}
{#- the newest load the table holds: every event and profile loaded before it was built in -#}
{% set built_up_to = "(select coalesce(max(built.dlt_load_id), '') from " ~ this ~ " as built)" %}

with

metrics as (
    select * from {{ ref('stg_klaviyo__metrics') }}
),

identities as (
    select * from {{ ref('int_contact_identities_unioned') }}
    where source_system = 'klaviyo'
),

events as (
    select * from {{ ref('stg_klaviyo__events') }}
    {% if is_incremental() %}
        -- branches each filtered by one condition: a scan reads only the newest row groups for the
        -- first, and the others read nothing when no profile or metric changed (an OR of all three
        -- read every column of every raw event)
        where dlt_load_id > {{ built_up_to }}

        union all

        (
            select * from {{ ref('stg_klaviyo__events') }}
            where
                dlt_load_id <= {{ built_up_to }}
                and klaviyo_profile_id in {{ klaviyo_profiles_with_another_contact(reloaded_after=built_up_to) }}

            union

            select * from {{ ref('stg_klaviyo__events') }}
            where
                dlt_load_id <= {{ built_up_to }}
                and metric_id in (
                    select built.metric_id
                    from (
                        select distinct
                            metric_id,
                            metric_name
                        from {{ this }}
                    ) as built
                    left join metrics
                        on built.metric_id = metrics.metric_id
                    where built.metric_name is distinct from metrics.metric_name
                )
        )
    {% endif %}
),

final as (
    select
        events.event_id,
        events.metric_id,
        metrics.metric_name,
        case metrics.metric_name
            when 'Received Email' then 'received'
            when 'Opened Email' then 'opened'
            when 'Clicked Email' then 'clicked'
            when 'Bounced Email' then 'bounced'
            when 'Marked Email as Spam' then 'marked_spam'
            when 'Unsubscribed' then 'unsubscribed'
            when 'Placed Order' then 'placed_order'
            else 'other'
        end as event_type,
        events.klaviyo_profile_id,
        identities.contact_id,
        -- orders and touches are matched per person, or per profile when the email is unusable
        coalesce(identities.contact_id, 'profile:' || events.klaviyo_profile_id) as attribution_key,
        events.message_id,
        case
            when events.message_id is not null and events.klaviyo_profile_id is not null
                then md5(events.klaviyo_profile_id || '|' || events.message_id)
        end as email_send_id,
        events.flow_id,
        events.ab_test_phase,
        events.occurred_at,
        coalesce(events.is_machine_open, false) as is_machine_open,
        events.bounce_type,
        events.order_id,
        events.order_value,
        events.currency,
        events.dlt_load_id,
        {{ build_started_at() }} as dbt_built_at
    from events
    left join metrics
        on events.metric_id = metrics.metric_id
    left join identities
        on events.klaviyo_profile_id = identities.source_record_id
)

select * from final
