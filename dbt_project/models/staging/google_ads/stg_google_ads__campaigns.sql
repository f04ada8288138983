-- Google campaigns as last read, each with the campaign budget that funds it.
with

source as (
    select * from {{ source_if_exists('google_ads', 'campaigns', {
        'customer_id': 'string', 'campaign_id': 'string', 'campaign_name': 'string',
        'status': 'string', 'campaign_budget_id': 'string', '_dlt_load_id': 'string'
    }) }}
),

renamed as (
    select
        cast(campaign_id as string) as campaign_id,
        cast(campaign_name as string) as campaign_name,
        cast(customer_id as string) as customer_id,
        cast(status as string) as campaign_status,
        cast(campaign_budget_id as string) as campaign_budget_id,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by campaign_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
