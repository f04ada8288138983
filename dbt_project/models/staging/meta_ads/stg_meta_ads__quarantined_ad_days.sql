-- Meta ad-day insights records (ad_insights_daily) the loader quarantined, newest per ad and day.
with

quarantine as (
    select * from {{ relation_if_exists('raw_meta_ads', 'quarantine', {
        'resource': 'string', 'record_id': 'string', 'reason': 'string', 'payload': 'string',
        'quarantined_at': 'timestamptz', '_dlt_load_id': 'string'
    }) }}
),

ad_days as (
    select
        coalesce(cast(record_id as string), {{ json_text('payload', '$.ad_id') }}) as ad_id,
        try_cast({{ json_text('payload', '$.date_start') }} as date) as date_day,
        {{ json_text('payload', '$.account_id') }} as account_id,
        {{ json_text('payload', '$.campaign_id') }} as campaign_id,
        {{ json_text('payload', '$.campaign_name') }} as campaign_name,
        {{ json_text('payload', '$.adset_id') }} as adset_id,
        {{ json_text('payload', '$.adset_name') }} as adset_name,
        {{ json_text('payload', '$.ad_name') }} as ad_name,
        {{ json_text('payload', '$.account_currency') }} as currency,
        cast(reason as string) as reason,
        {{ to_utc('quarantined_at') }} as quarantined_at,
        _dlt_load_id as dlt_load_id
    from quarantine
    where resource = 'ad_insights_daily'
),

final as (
    select * from ad_days
    where ad_id is not null and date_day is not null
    qualify row_number() over (
        partition by ad_id, date_day order by cast(dlt_load_id as double) desc, quarantined_at desc
    ) = 1
)

select * from final
