with

source as (
    select * from {{ source('hubspot', 'deals') }}
),

renamed as (
    select
        cast(deal_id as varchar) as deal_id,
        cast(deal_name as varchar) as deal_name,
        cast(pipeline_id as varchar) as pipeline_id,
        cast(deal_stage_id as varchar) as deal_stage_id,
        cast(amount as double) as amount,
        cast(analytics_source as varchar) as analytics_source,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('closed_at') }} as closed_at,
        {{ to_utc('updated_at') }} as updated_at,
        cast(unexpected_fields as varchar) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by deal_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
