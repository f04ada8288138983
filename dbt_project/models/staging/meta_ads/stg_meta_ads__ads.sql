-- Meta ads as last listed. Ads hold no budget at Meta (ad sets or CBO campaigns do); a warehouse
-- loaded by an older Loopwise still has a raw daily_budget column, which is deliberately not read.
with

source as (
    select * from {{ source('meta_ads', 'ads') }}
),

renamed as (
    select
        cast(ad_id as string) as ad_id,
        cast(ad_name as string) as ad_name,
        cast(adset_id as string) as adset_id,
        cast(campaign_id as string) as campaign_id,
        cast(status as string) as ad_status,
        cast(effective_status as string) as effective_status,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by ad_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
