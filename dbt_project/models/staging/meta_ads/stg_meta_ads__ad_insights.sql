with

source as (
    select * from {{ source('meta_ads', 'ad_insights_daily') }}
),

renamed as (
    select
        cast(account_id as varchar) as account_id,
        cast(campaign_id as varchar) as campaign_id,
        cast(campaign_name as varchar) as campaign_name,
        cast(adset_id as varchar) as adset_id,
        cast(adset_name as varchar) as adset_name,
        cast(ad_id as varchar) as ad_id,
        cast(ad_name as varchar) as ad_name,
        cast(date_start as date) as date_day,
        cast(spend as double) as spend,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        cast(link_clicks as bigint) as link_clicks,
        cast(purchases as double) as purchases,
        cast(purchase_value as double) as purchase_value,
        cast(currency as varchar) as currency,
        cast(unexpected_fields as varchar) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by ad_id, date_start order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
