with

source as (
    select * from {{ source('klaviyo', 'metrics') }}
),

renamed as (
    select
        cast(metric_id as string) as metric_id,
        cast(metric_name as string) as metric_name,
        cast(integration_name as string) as integration_name,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by metric_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
