-- Google ad-day records (ad_group_ad_daily) the loader quarantined, newest per ad and day.
with

quarantine as (
    select * from {{ relation_if_exists('raw_google_ads', 'quarantine', {
        'resource': 'string', 'record_id': 'string', 'reason': 'string', 'payload': 'string',
        'quarantined_at': 'timestamptz', '_dlt_load_id': 'string'
    }) }}
),

ad_days as (
    select
        coalesce(
            cast(record_id as string), {{ json_text('payload', '$.adGroupAd.ad.id') }}
        ) as ad_id,
        try_cast({{ json_text('payload', '$.segments.date') }} as date) as date_day,
        {{ json_text('payload', '$.campaign.id') }} as campaign_id,
        {{ json_text('payload', '$.campaign.name') }} as campaign_name,
        {{ json_text('payload', '$.adGroup.id') }} as ad_group_id,
        {{ json_text('payload', '$.adGroup.name') }} as ad_group_name,
        {{ json_text('payload', '$.adGroupAd.ad.name') }} as ad_name,
        {{ json_text('payload', '$.customer.currencyCode') }} as currency,
        cast(reason as string) as reason,
        {{ to_utc('quarantined_at') }} as quarantined_at,
        _dlt_load_id as dlt_load_id
    from quarantine
    where resource = 'ad_group_ad_daily'
),

final as (
    select * from ad_days
    where ad_id is not null and date_day is not null
    qualify row_number() over (
        partition by ad_id, date_day order by cast(dlt_load_id as double) desc, quarantined_at desc
    ) = 1
)

select * from final
