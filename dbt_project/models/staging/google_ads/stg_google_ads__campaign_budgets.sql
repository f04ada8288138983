-- Google campaign budgets as last read (amounts in micros); several campaigns may share one.
with

source as (
    select * from {{ source_if_exists('google_ads', 'campaign_budgets', {
        'customer_id': 'string', 'campaign_budget_id': 'string', 'campaign_budget_name': 'string',
        'amount_micros': 'bigint', 'explicitly_shared': 'boolean', 'reference_count': 'bigint',
        'status': 'string', '_dlt_load_id': 'string'
    }) }}
),

renamed as (
    select
        cast(campaign_budget_id as string) as campaign_budget_id,
        cast(campaign_budget_name as string) as campaign_budget_name,
        cast(customer_id as string) as customer_id,
        cast(amount_micros as bigint) as amount_micros,
        cast(explicitly_shared as boolean) as explicitly_shared,
        cast(reference_count as bigint) as reference_count,
        cast(status as string) as campaign_budget_status,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by campaign_budget_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
