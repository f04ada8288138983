-- Google Ads conversions per ad and day as read on each observation day (a table variant of
-- ad_group_ad_daily, so read with relation_if_exists): how each day's conversions grew.
-- depends_on: {{ source('google_ads', 'ad_group_ad_daily') }} (the dlt resource that writes the snapshots, for lineage)
with

source as (
    select * from {{ relation_if_exists('raw_google_ads', 'ad_conversion_snapshots', {
        'ad_id': 'string', 'date': 'date', 'observed_on': 'date', 'conversions': 'double',
        'conversions_value': 'double', '_dlt_load_id': 'string'
    }) }}
),

renamed as (
    select
        cast(ad_id as string) as ad_id,
        cast({{ adapter.quote('date') }} as date) as date_day,  -- noqa: RF06
        cast(observed_on as date) as observed_on,
        cast(conversions as double) as conversions,
        cast(conversions_value as double) as conversions_value,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (
        partition by ad_id, {{ adapter.quote('date') }}, observed_on order by _dlt_load_id desc
    ) = 1
),

final as (
    select * from renamed
)

select * from final
