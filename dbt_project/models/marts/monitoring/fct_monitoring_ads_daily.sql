-- Ad metrics per day, platform and ad, for the anomaly scan. A quarantined ad-day keeps its
-- row with null metrics (unknown, not zero).
with

ad_performance as (
    select * from {{ ref('fct_ad_performance_daily') }}
),

final as (
    select
        date_day,
        platform,
        ad_id,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as conversions,
        sum(conversions_value) as conversions_value,
        bool_or(is_quarantined) as is_quarantined
    from ad_performance
    group by all
)

select * from final
