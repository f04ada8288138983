with

source as (
    select * from {{ source('hubspot', 'pipeline_stages') }}
),

renamed as (
    select
        cast(pipeline_id as string) as pipeline_id,
        cast(pipeline_label as string) as pipeline_label,
        cast(stage_id as string) as deal_stage_id,
        cast(stage_label as string) as deal_stage_label,
        cast(display_order as bigint) as display_order,
        cast(is_closed as boolean) as is_closed,
        cast(probability as double) as probability,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by pipeline_id, stage_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
