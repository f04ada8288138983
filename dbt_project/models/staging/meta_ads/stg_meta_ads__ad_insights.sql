with

source as (
    select * from {{ source('meta_ads', 'ad_insights_daily') }}
),

renamed as (
    select
        cast(account_id as string) as account_id,
        cast(campaign_id as string) as campaign_id,
        cast(campaign_name as string) as campaign_name,
        cast(adset_id as string) as adset_id,
        cast(adset_name as string) as adset_name,
        cast(ad_id as string) as ad_id,
        cast(ad_name as string) as ad_name,
        cast(date_start as date) as date_day,
        cast(spend as double) as spend,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        cast(link_clicks as bigint) as link_clicks,
        cast(purchases as double) as purchases,
        cast(purchase_value as double) as purchase_value,
        cast(currency as string) as currency,
        cast(unexpected_fields as string) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by ad_id, date_start order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
