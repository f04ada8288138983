with

source as (
    select * from {{ source('klaviyo', 'flow_actions') }}
),

renamed as (
    select
        cast(flow_action_id as string) as flow_action_id,
        cast(flow_id as string) as flow_id,
        cast(action_type as string) as action_type,
        cast(step_position as bigint) as step_position,
        cast(delay_days as bigint) as delay_days,
        cast(status as string) as flow_action_status,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by flow_action_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
