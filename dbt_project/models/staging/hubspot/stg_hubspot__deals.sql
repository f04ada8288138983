with

source as (
    select * from {{ source('hubspot', 'deals') }}
),

renamed as (
    select
        cast(deal_id as string) as deal_id,
        cast(deal_name as string) as deal_name,
        cast(pipeline_id as string) as pipeline_id,
        cast(deal_stage_id as string) as deal_stage_id,
        cast(amount as double) as amount,
        cast(analytics_source as string) as analytics_source,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('closed_at') }} as closed_at,
        {{ to_utc('updated_at') }} as updated_at,
        cast(unexpected_fields as string) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by deal_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
