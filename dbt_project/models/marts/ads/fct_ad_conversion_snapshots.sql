-- Conversions per ad and day as the platforms reported them on each observation day, with the
-- day's age then (observed_on - date_day): the platforms keep attributing conversions to a day
-- for a week after it, and these rows show how far along a day of each age was. The anomaly
-- scan learns its conversion-maturity curve from them (decision_engine/anomalies/maturity.py).
with

meta_snapshots as (
    select * from {{ ref('stg_meta_ads__ad_conversion_snapshots') }}
),

google_snapshots as (
    select * from {{ ref('stg_google_ads__ad_conversion_snapshots') }}
),

unioned as (
    select
        'meta_ads' as platform,
        ad_id,
        date_day,
        observed_on,
        coalesce(purchases, 0) as conversions,
        coalesce(purchase_value, 0) as conversions_value
    from meta_snapshots
    union all
    select
        'google_ads' as platform,
        ad_id,
        date_day,
        observed_on,
        coalesce(conversions, 0) as conversions,
        coalesce(conversions_value, 0) as conversions_value
    from google_snapshots
),

final as (
    select
        platform,
        ad_id,
        date_day,
        observed_on,
        {{ datediff('date_day', 'observed_on', 'day') }} as age_days,
        conversions,
        conversions_value
    from unioned
)

select * from final
