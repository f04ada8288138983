with

source as (
    select * from {{ source('klaviyo', 'profiles') }}
),

renamed as (
    select
        cast(profile_id as string) as klaviyo_profile_id,
        cast(email as string) as email,
        cast(timezone as string) as timezone,
        cast(consent as string) as email_consent,
        {{ to_utc('consent_at') }} as consent_at,
        cast(holdout_group as string) as holdout_group,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        cast(unexpected_fields as string) as unexpected_fields,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by profile_id order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
