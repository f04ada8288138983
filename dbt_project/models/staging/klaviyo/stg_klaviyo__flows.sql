with

source as (
    select * from {{ source('klaviyo', 'flows') }}
),

renamed as (
    select
        cast(flow_id as string) as flow_id,
        cast(flow_name as string) as flow_name,
        cast(status as string) as flow_status,
        cast(trigger_type as string) as trigger_type,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by flow_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
