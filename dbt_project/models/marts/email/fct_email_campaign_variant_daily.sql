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
        count_if(sends.is_delivered) as delivered,
        count_if(sends.is_opened) as opens,
        count_if(sends.is_human_opened) as human_opens,
        count_if(sends.is_clicked) as clicks,
        count_if(sends.is_converted) as conversions,
        sum(sends.attributed_revenue) as revenue,
        count_if(sends.is_unsubscribed) as unsubscribes,
        count_if(sends.is_bounced) as bounces,
        count_if(sends.is_spam_complaint) as spam_complaints
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
