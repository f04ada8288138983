with

source as (
    select * from {{ source('klaviyo', 'events') }}
),

renamed as (
    select
        cast(event_id as string) as event_id,
        cast(metric_id as string) as metric_id,
        cast(profile_id as string) as klaviyo_profile_id,
        {{ to_utc('occurred_at') }} as occurred_at,
        cast(event_uuid as string) as event_uuid,
        cast(message_id as string) as message_id,
        cast(flow_id as string) as flow_id,
        cast(campaign_name as string) as campaign_name,
        cast(subject as string) as subject,
        cast(ab_test_phase as string) as ab_test_phase,
        cast(is_machine_open as boolean) as is_machine_open,
        cast(url as string) as url,
        cast(bounce_type as string) as bounce_type,
        cast(value as double) as order_value,
        cast(currency as string) as currency,
        cast(order_id as string) as order_id,
        cast(item_count as bigint) as item_count,
        cast(unexpected_fields as string) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    {% if target.type != 'duckdb' %}
        -- in a lake dlt appends each load; in DuckDB its merge on event_id already keeps one row
        -- per event, and this window over every event cost the daily build most of its events
        -- step (the unique test on int_email_events_enriched.event_id guards the assumption)
        qualify row_number() over (partition by event_id order by _dlt_load_id desc) = 1
    {% endif %}
),

final as (
    select * from renamed
)

select * from final
