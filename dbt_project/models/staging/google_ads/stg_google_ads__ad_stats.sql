with

source as (
    select * from {{ source('google_ads', 'ad_group_ad_daily') }}
),

renamed as (
    select
        cast(customer_id as string) as customer_id,
        cast(campaign_id as string) as campaign_id,
        cast(campaign_name as string) as campaign_name,
        cast(ad_group_id as string) as ad_group_id,
        cast(ad_group_name as string) as ad_group_name,
        cast(ad_id as string) as ad_id,
        cast(ad_name as string) as ad_name,
        cast(ad_status as string) as ad_status,
        cast({{ adapter.quote('date') }} as date) as date_day,  -- noqa: RF06
        cast(cost_micros as bigint) as cost_micros,
        cast(clicks as bigint) as clicks,
        cast(impressions as bigint) as impressions,
        cast(conversions as double) as conversions,
        cast(conversions_value as double) as conversions_value,
        cast(currency as string) as currency,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (
        partition by ad_id, {{ adapter.quote('date') }} order by _dlt_load_id desc
    ) = 1
),

final as (
    select * from renamed
)

select * from final
