-- Google campaigns as last read, each with the campaign budget that funds it.
with

source as (
    select * from {{ source_if_exists('google_ads', 'campaigns', {
        'customer_id': 'varchar', 'campaign_id': 'varchar', 'campaign_name': 'varchar',
        'status': 'varchar', 'campaign_budget_id': 'varchar', '_dlt_load_id': 'varchar'
    }) }}
),

renamed as (
    select
        cast(campaign_id as varchar) as campaign_id,
        cast(campaign_name as varchar) as campaign_name,
        cast(customer_id as varchar) as customer_id,
        cast(status as varchar) as campaign_status,
        cast(campaign_budget_id as varchar) as campaign_budget_id,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by campaign_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
