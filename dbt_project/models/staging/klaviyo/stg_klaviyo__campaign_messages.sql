with

source as (
    select * from {{ source('klaviyo', 'campaign_messages') }}
),

renamed as (
    select
        cast(message_id as string) as message_id,
        cast(campaign_id as string) as campaign_id,
        cast(variant_label as string) as variant_label,
        cast(subject as string) as subject,
        cast(preview_text as string) as preview_text,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by message_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
