-- Meta ad sets as last listed; an ad set has a daily budget only when no campaign budget (CBO) is above it.
with

source as (
    select * from {{ source_if_exists('meta_ads', 'adsets', {
        'account_id': 'varchar', 'adset_id': 'varchar', 'adset_name': 'varchar', 'campaign_id': 'varchar',
        'daily_budget_minor': 'bigint', 'status': 'varchar', '_dlt_load_id': 'varchar'
    }) }}
),

renamed as (
    select
        cast(adset_id as varchar) as adset_id,
        cast(adset_name as varchar) as adset_name,
        cast(campaign_id as varchar) as campaign_id,
        cast(account_id as varchar) as account_id,
        cast(daily_budget_minor as bigint) as daily_budget_minor,
        cast(status as varchar) as adset_status,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by adset_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
