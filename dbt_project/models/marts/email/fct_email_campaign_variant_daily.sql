with

sends as (
    select * from {{ ref('fct_email_sends') }}
    where send_type = 'campaign' and campaign_id is not null
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
