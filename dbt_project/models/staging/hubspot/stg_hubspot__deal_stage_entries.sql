with

source as (
    select * from {{ source('hubspot', 'deal_stage_entries') }}
),

renamed as (
    select
        cast(deal_id as string) as deal_id,
        cast(stage_id as string) as deal_stage_id,
        {{ to_utc('entered_at') }} as entered_at,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by deal_id, stage_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
