with

source as (
    select * from {{ source('klaviyo', 'campaigns') }}
),

renamed as (
    select
        cast(campaign_id as string) as campaign_id,
        cast(campaign_name as string) as campaign_name,
        cast(status as string) as campaign_status,
        {{ to_utc('send_time') }} as send_time,
        cast(ab_test_share as double) as ab_test_share,
        cast(ab_test_duration_hours as double) as ab_test_duration_hours,
        cast(ab_winner_metric as string) as ab_winner_metric,
        cast(ab_winner_message_id as string) as ab_winner_message_id,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by campaign_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
