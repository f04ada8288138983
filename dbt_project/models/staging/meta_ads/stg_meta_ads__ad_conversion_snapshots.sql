-- Meta purchases per ad and day as read on each observation day (a table variant of
-- ad_insights_daily, so read with relation_if_exists): how each day's conversions grew.
-- depends_on: {{ source('meta_ads', 'ad_insights_daily') }} (the dlt resource that writes the snapshots, for lineage)
with

source as (
    select * from {{ relation_if_exists('raw_meta_ads', 'ad_conversion_snapshots', {
        'ad_id': 'string', 'date_start': 'date', 'observed_on': 'date', 'purchases': 'double',
        'purchase_value': 'double', '_dlt_load_id': 'string'
    }) }}
),

renamed as (
    select
        cast(ad_id as string) as ad_id,
        cast(date_start as date) as date_day,
        cast(observed_on as date) as observed_on,
        cast(purchases as double) as purchases,
        cast(purchase_value as double) as purchase_value,
        _dlt_load_id as dlt_load_id
    from source
    qualify row_number() over (partition by ad_id, date_start, observed_on order by _dlt_load_id desc) = 1
),

final as (
    select * from renamed
)

select * from final
