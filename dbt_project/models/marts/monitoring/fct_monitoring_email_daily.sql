-- Email sends per day and stream (each flow, and all campaigns together), for the anomaly scan.
with

email_sends as (
    select * from {{ ref('fct_email_sends') }}
),

campaign_variant_daily as (
    select * from {{ ref('fct_email_campaign_variant_daily') }}
),

flow_daily as (
    select
        cast(sent_at as date) as date_day,
        coalesce(send_type, 'campaign') as send_type,
        coalesce(case when send_type = 'flow' then flow_id end, 'campaigns') as email_stream,
        count(*) as recipients,
        count(*) filter (where is_delivered) as delivered,
        count(*) filter (where is_bounced) as bounces,
        count(*) filter (where is_opened) as opens,
        count(*) filter (where is_machine_open_only) as machine_opens,
        count(*) filter (where is_clicked) as clicks,
        count(*) filter (where is_unsubscribed) as unsubscribes,
        count(*) filter (where is_spam_complaint) as spam_complaints,
        coalesce(sum(attributed_order_count), 0) as orders,
        coalesce(sum(attributed_revenue), 0) as revenue
    from email_sends
    where send_type = 'flow'
    group by all
),

campaign_daily as (
    select
        send_date as date_day,
        'campaign' as send_type,
        'campaigns' as email_stream,
        sum(recipients) as recipients,
        sum(delivered) as delivered,
        sum(bounces) as bounces,
        sum(opens) as opens,
        sum(opens - human_opens) as machine_opens,
        sum(clicks) as clicks,
        sum(unsubscribes) as unsubscribes,
        sum(spam_complaints) as spam_complaints,
        sum(conversions) as orders,
        sum(revenue) as revenue
    from campaign_variant_daily
    group by all
),

unioned as (
    {{ union_all_by_name(
        ['flow_daily', 'campaign_daily'],
        ['date_day', 'send_type', 'email_stream', 'recipients', 'delivered', 'bounces', 'opens', 'machine_opens',
        'clicks', 'unsubscribes', 'spam_complaints', 'orders', 'revenue'],
    ) }}
),

final as (
    select * from unioned
    where date_day is not null
)

select * from final
