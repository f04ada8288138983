with

source as (
    select * from {{ source('hubspot', 'contacts') }}
),

renamed as (
    select
        cast(contact_id as string) as hubspot_contact_id,
        cast(email as string) as email,
        cast(lifecycle_stage as string) as lifecycle_stage,
        cast(analytics_source as string) as analytics_source,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        {{ to_utc('subscriber_at') }} as subscriber_at,
        {{ to_utc('lead_at') }} as lead_at,
        {{ to_utc('marketing_qualified_lead_at') }} as marketing_qualified_lead_at,
        {{ to_utc('sales_qualified_lead_at') }} as sales_qualified_lead_at,
        {{ to_utc('opportunity_at') }} as opportunity_at,
        {{ to_utc('customer_at') }} as customer_at,
        cast(unexpected_fields as string) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by contact_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
