-- Meta ad sets as last listed; an ad set has a daily budget only when no campaign budget (CBO) is above it.
with

source as (
    select * from {{ source_if_exists('meta_ads', 'adsets', {
        'account_id': 'string', 'adset_id': 'string', 'adset_name': 'string', 'campaign_id': 'string',
        'daily_budget_minor': 'bigint', 'status': 'string', '_dlt_load_id': 'string'
    }) }}
),

renamed as (
    select
        cast(adset_id as string) as adset_id,
        cast(adset_name as string) as adset_name,
        cast(campaign_id as string) as campaign_id,
        cast(account_id as string) as account_id,
        cast(daily_budget_minor as bigint) as daily_budget_minor,
        cast(status as string) as adset_status,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by adset_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
