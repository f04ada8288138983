with

source as (
    select * from {{ source('hubspot', 'deal_contacts') }}
),

renamed as (
    select
        cast(deal_id as string) as deal_id,
        cast(contact_id as string) as hubspot_contact_id,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by deal_id, contact_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
