-- Meta and Google Ads unified per ad per day (columns as in Fivetran's ad_reporting).
-- An ad-day whose latest vendor record was quarantined (and not superseded by a later valid
-- load) keeps its row, flagged is_quarantined, with null metrics: unknown, not zero.
-- Each ad names the budget entity that funds it (dim_budget_entities): its Meta ad set when the
-- ad set holds a budget, else its campaign under campaign budget optimisation; its Google
-- campaign's campaign budget. Null when the vendor has not told us (yet).
with

meta_insights as (
    select * from {{ ref('stg_meta_ads__ad_insights') }}
),

google_stats as (
    select * from {{ ref('stg_google_ads__ad_stats') }}
),

meta_quarantined as (
    select * from {{ ref('stg_meta_ads__quarantined_ad_days') }}
),

google_quarantined as (
    select * from {{ ref('stg_google_ads__quarantined_ad_days') }}
),

meta_open_quarantine as (
    -- quarantined ad-days no later valid load has replaced
    select meta_quarantined.*
    from meta_quarantined
    left join meta_insights
        on
            meta_quarantined.ad_id = meta_insights.ad_id
            and meta_quarantined.date_day = meta_insights.date_day
            and cast(meta_insights.dlt_load_id as double) > cast(meta_quarantined.dlt_load_id as double)
    where meta_insights.ad_id is null
),

google_open_quarantine as (
    select google_quarantined.*
    from google_quarantined
    left join google_stats
        on
            google_quarantined.ad_id = google_stats.ad_id
            and google_quarantined.date_day = google_stats.date_day
            and cast(google_stats.dlt_load_id as double) > cast(google_quarantined.dlt_load_id as double)
    where google_stats.ad_id is null
),

meta_adsets as (
    select * from {{ ref('stg_meta_ads__adsets') }}
),

meta_campaigns as (
    select * from {{ ref('stg_meta_ads__campaigns') }}
),

google_campaigns as (
    select * from {{ ref('stg_google_ads__campaigns') }}
),

meta_adset_budget_entities as (
    select
        meta_adsets.adset_id,
        case
            when meta_adsets.daily_budget_minor is not null then 'adset'
            when meta_campaigns.daily_budget_minor is not null then 'campaign'
        end as budget_entity_type,
        case
            when meta_adsets.daily_budget_minor is not null then meta_adsets.adset_id
            when meta_campaigns.daily_budget_minor is not null then meta_campaigns.campaign_id
        end as budget_entity_id
    from meta_adsets
    left join meta_campaigns
        on meta_adsets.campaign_id = meta_campaigns.campaign_id
),

google_campaign_budget_entities as (
    select
        campaign_id,
        'campaign_budget' as budget_entity_type,
        campaign_budget_id as budget_entity_id
    from google_campaigns
    where campaign_budget_id is not null
),

google_accounts as (
    -- the Google customer is not in the quarantined payload: the ad's latest known one
    select
        ad_id,
        {{ value_at_max('customer_id', 'date_day') }} as customer_id
    from google_stats
    group by ad_id
),

meta_daily as (
    select
        'meta_ads' as platform,
        meta_insights.account_id,
        meta_insights.campaign_id,
        meta_insights.campaign_name,
        meta_insights.adset_id as ad_group_id,
        meta_insights.adset_name as ad_group_name,
        meta_insights.ad_id,
        meta_insights.ad_name,
        meta_insights.date_day,
        meta_insights.currency,
        coalesce(meta_insights.spend, 0) as spend,
        coalesce(meta_insights.impressions, 0) as impressions,
        coalesce(meta_insights.clicks, 0) as clicks,
        coalesce(meta_insights.purchases, 0) as conversions,
        coalesce(meta_insights.purchase_value, 0) as conversions_value,
        false as is_quarantined
    from meta_insights
    anti join meta_open_quarantine
        on
            meta_insights.ad_id = meta_open_quarantine.ad_id
            and meta_insights.date_day = meta_open_quarantine.date_day
),

meta_quarantined_daily as (
    select
        'meta_ads' as platform,
        account_id,
        campaign_id,
        campaign_name,
        adset_id as ad_group_id,
        adset_name as ad_group_name,
        ad_id,
        ad_name,
        date_day,
        currency,
        null as spend,
        null as impressions,
        null as clicks,
        null as conversions,
        null as conversions_value,
        true as is_quarantined
    from meta_open_quarantine
),

google_daily as (
    select
        'google_ads' as platform,
        google_stats.customer_id as account_id,
        google_stats.campaign_id,
        google_stats.campaign_name,
        google_stats.ad_group_id,
        google_stats.ad_group_name,
        google_stats.ad_id,
        google_stats.ad_name,
        google_stats.date_day,
        google_stats.currency,
        coalesce(google_stats.cost_micros, 0) / 1000000.0 as spend,
        coalesce(google_stats.impressions, 0) as impressions,
        coalesce(google_stats.clicks, 0) as clicks,
        coalesce(google_stats.conversions, 0) as conversions,
        coalesce(google_stats.conversions_value, 0) as conversions_value,
        false as is_quarantined
    from google_stats
    anti join google_open_quarantine
        on
            google_stats.ad_id = google_open_quarantine.ad_id
            and google_stats.date_day = google_open_quarantine.date_day
),

google_quarantined_daily as (
    select
        'google_ads' as platform,
        google_accounts.customer_id as account_id,
        google_open_quarantine.campaign_id,
        google_open_quarantine.campaign_name,
        google_open_quarantine.ad_group_id,
        google_open_quarantine.ad_group_name,
        google_open_quarantine.ad_id,
        google_open_quarantine.ad_name,
        google_open_quarantine.date_day,
        google_open_quarantine.currency,
        null as spend,
        null as impressions,
        null as clicks,
        null as conversions,
        null as conversions_value,
        true as is_quarantined
    from google_open_quarantine
    left join google_accounts
        on google_open_quarantine.ad_id = google_accounts.ad_id
),

unioned as (
    {{ union_all_by_name(
        ['meta_daily', 'meta_quarantined_daily', 'google_daily', 'google_quarantined_daily'],
        ['platform', 'account_id', 'campaign_id', 'campaign_name', 'ad_group_id', 'ad_group_name',
        'ad_id', 'ad_name', 'date_day',
        'currency', 'spend', 'impressions', 'clicks', 'conversions', 'conversions_value', 'is_quarantined'],
    ) }}
),

with_budget_entities as (
    select
        unioned.*,
        coalesce(
            meta_adset_budget_entities.budget_entity_type, google_campaign_budget_entities.budget_entity_type
        ) as budget_entity_type,
        coalesce(
            meta_adset_budget_entities.budget_entity_id, google_campaign_budget_entities.budget_entity_id
        ) as budget_entity_id
    from unioned
    left join meta_adset_budget_entities
        on
            unioned.platform = 'meta_ads'
            and unioned.ad_group_id = meta_adset_budget_entities.adset_id
    left join google_campaign_budget_entities
        on
            unioned.platform = 'google_ads'
            and unioned.campaign_id = google_campaign_budget_entities.campaign_id
),

final as (
    select
        platform,
        account_id,
        campaign_id,
        campaign_name,
        ad_group_id,
        ad_group_name,
        ad_id,
        ad_name,
        date_day,
        currency,
        cast(spend as double) as spend,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        cast(conversions as double) as conversions,
        cast(conversions_value as double) as conversions_value,
        {{ safe_divide('clicks', 'impressions') }} as ctr,
        {{ safe_divide('spend', 'clicks') }} as cpc,
        {{ safe_divide('conversions_value', 'spend') }} as roas,
        {{ safe_divide('spend', 'conversions') }} as cpa,
        is_quarantined,
        cast(budget_entity_type as string) as budget_entity_type,
        cast(budget_entity_id as string) as budget_entity_id
    from with_budget_entities
)

select * from final
