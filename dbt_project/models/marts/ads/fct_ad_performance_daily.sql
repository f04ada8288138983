-- Meta and Google Ads unified per ad per day (columns as in Fivetran's ad_reporting).
with

meta_insights as (
    select * from {{ ref('stg_meta_ads__ad_insights') }}
),

google_stats as (
    select * from {{ ref('stg_google_ads__ad_stats') }}
),

meta_daily as (
    select
        'meta_ads' as platform,
        meta_insights.account_id,
        meta_insights.campaign_id,
        meta_insights.campaign_name,
        meta_insights.adset_id as ad_group_id,
        meta_insights.adset_name as ad_group_name,
        meta_insights.ad_id,
        meta_insights.ad_name,
        meta_insights.date_day,
        meta_insights.currency,
        coalesce(meta_insights.spend, 0) as spend,
        coalesce(meta_insights.impressions, 0) as impressions,
        coalesce(meta_insights.clicks, 0) as clicks,
        coalesce(meta_insights.purchases, 0) as conversions,
        coalesce(meta_insights.purchase_value, 0) as conversions_value
    from meta_insights
),

google_daily as (
    select
        'google_ads' as platform,
        google_stats.customer_id as account_id,
        google_stats.campaign_id,
        google_stats.campaign_name,
        google_stats.ad_group_id,
        google_stats.ad_group_name,
        google_stats.ad_id,
        google_stats.ad_name,
        google_stats.date_day,
        google_stats.currency,
        coalesce(google_stats.cost_micros, 0) / 1000000.0 as spend,
        coalesce(google_stats.impressions, 0) as impressions,
        coalesce(google_stats.clicks, 0) as clicks,
        coalesce(google_stats.conversions, 0) as conversions,
        coalesce(google_stats.conversions_value, 0) as conversions_value
    from google_stats
),

unioned as (
    select * from meta_daily
    union all
    select * from google_daily
),

final as (
    select
        platform,
        account_id,
        campaign_id,
        campaign_name,
        ad_group_id,
        ad_group_name,
        ad_id,
        ad_name,
        date_day,
        currency,
        cast(spend as double) as spend,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        cast(conversions as double) as conversions,
        cast(conversions_value as double) as conversions_value,
        {{ safe_divide('clicks', 'impressions') }} as ctr,
        {{ safe_divide('spend', 'clicks') }} as cpc,
        {{ safe_divide('conversions_value', 'spend') }} as roas,
        {{ safe_divide('spend', 'conversions') }} as cpa
    from unioned
)

select * from final
