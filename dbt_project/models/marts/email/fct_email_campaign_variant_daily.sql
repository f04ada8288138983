-- One row per campaign message per send day. Incremental: a run recomputes, from all their
-- sends, the message days holding a send with an email event in the rebuild window
-- (macros/incremental_window.sql), so late opens and newly credited orders reach old days too.
{{
    config(
        materialized=incremental_or_table(),
        unique_key=['campaign_id', 'message_id', 'send_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('int_email_events_enriched') }}

with

sends as {{ cte_inline() }} (
    select * from {{ ref('fct_email_sends') }}
    where send_type = 'campaign' and campaign_id is not null
),

message_days_to_build as (
    -- every message day on a full build
    select distinct
        sends.campaign_id,
        sends.message_id,
        cast(sends.sent_at as date) as send_date
    from sends
    {% if is_incremental() %}
        where
            sends.email_send_id in {{
                email_send_ids_to_rebuild(email_rebuild_window_start('cast(send_date as timestamp)'))
            }}
    {% endif %}
),

daily as (
    select
        sends.campaign_id,
        sends.message_id,
        max(sends.variant_label) as variant_label,
        cast(sends.sent_at as date) as send_date,
        count(*) as recipients,
        cast(count_if(sends.is_delivered) as bigint) as delivered,
        cast(count_if(sends.is_opened) as bigint) as opens,
        cast(count_if(sends.is_human_opened) as bigint) as human_opens,
        cast(count_if(sends.is_clicked) as bigint) as clicks,
        cast(count_if(sends.is_converted) as bigint) as conversions,
        sum(sends.attributed_revenue) as revenue,
        cast(count_if(sends.is_unsubscribed) as bigint) as unsubscribes,
        cast(count_if(sends.is_bounced) as bigint) as bounces,
        cast(count_if(sends.is_spam_complaint) as bigint) as spam_complaints
    from sends
    inner join message_days_to_build
        on
            sends.campaign_id = message_days_to_build.campaign_id
            and sends.message_id = message_days_to_build.message_id
            and cast(sends.sent_at as date) = message_days_to_build.send_date
    group by sends.campaign_id, sends.message_id, cast(sends.sent_at as date)
),

final as (
    select
        campaign_id,
        message_id,
        variant_label,
        send_date,
        recipients,
        delivered,
        opens,
        human_opens,
        clicks,
        conversions,
        revenue,
        unsubscribes,
        bounces,
        spam_complaints,
        {{ safe_divide('opens', 'delivered') }} as open_rate,
        {{ safe_divide('human_opens', 'delivered') }} as human_open_rate,
        {{ safe_divide('clicks', 'delivered') }} as click_rate,
        {{ safe_divide('conversions', 'delivered') }} as conversion_rate,
        {{ safe_divide('unsubscribes', 'delivered') }} as unsubscribe_rate,
        {{ safe_divide('bounces', 'recipients') }} as bounce_rate,
        {{ safe_divide('spam_complaints', 'delivered') }} as spam_rate
    from daily
)

select * from final
