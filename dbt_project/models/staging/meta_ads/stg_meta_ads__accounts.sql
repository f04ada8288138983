-- Meta ad accounts with their currency (it decides the offset of the budgets' minor units).
with

source as (
    select * from {{ source_if_exists('meta_ads', 'accounts', {
        'account_id': 'string', 'currency': 'string', '_dlt_load_id': 'string'
    }) }}
),

renamed as (
    select
        cast(account_id as string) as account_id,
        upper(cast(currency as string)) as currency,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by account_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
