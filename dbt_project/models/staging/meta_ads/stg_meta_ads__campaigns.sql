-- Meta campaigns as last listed; a campaign has a daily budget only under campaign budget optimisation.
with

source as (
    select * from {{ source_if_exists('meta_ads', 'campaigns', {
        'account_id': 'string', 'campaign_id': 'string', 'campaign_name': 'string',
        'daily_budget_minor': 'bigint', 'status': 'string', '_dlt_load_id': 'string'
    }) }}
),

renamed as (
    select
        cast(campaign_id as string) as campaign_id,
        cast(campaign_name as string) as campaign_name,
        cast(account_id as string) as account_id,
        cast(daily_budget_minor as bigint) as daily_budget_minor,
        cast(status as string) as campaign_status,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by campaign_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
