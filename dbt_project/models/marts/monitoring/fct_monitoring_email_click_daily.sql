-- Email clicks per click day and the orders they led to (the landing page / checkout funnel).
with

email_sends as (
    select * from {{ ref('fct_email_sends') }}
),

final as (
    select
        cast(first_clicked_at as date) as date_day,
        count(*) as clicks,
        count(*) filter (where is_converted) as orders
    from email_sends
    where is_clicked and first_clicked_at is not null
    group by all
)

select * from final
