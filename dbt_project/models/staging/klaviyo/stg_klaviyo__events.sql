with

source as (
    select * from {{ source('klaviyo', 'events') }}
),

renamed as (
    select
        cast(event_id as varchar) as event_id,
        cast(metric_id as varchar) as metric_id,
        cast(profile_id as varchar) as klaviyo_profile_id,
        {{ to_utc('occurred_at') }} as occurred_at,
        cast(event_uuid as varchar) as event_uuid,
        cast(message_id as varchar) as message_id,
        cast(flow_id as varchar) as flow_id,
        cast(campaign_name as varchar) as campaign_name,
        cast(subject as varchar) as subject,
        cast(ab_test_phase as varchar) as ab_test_phase,
        cast(is_machine_open as boolean) as is_machine_open,
        cast(url as varchar) as url,
        cast(bounce_type as varchar) as bounce_type,
        cast(value as double) as order_value,
        cast(currency as varchar) as currency,
        cast(order_id as varchar) as order_id,
        cast(item_count as bigint) as item_count,
        cast(unexpected_fields as varchar) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by event_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
