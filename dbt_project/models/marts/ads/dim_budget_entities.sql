-- One row per budget entity as the vendor reports it now: Meta ad sets holding their own budget,
-- Meta campaigns under campaign budget optimisation (CBO), Google campaign budgets. Budgets are
-- in major units of the account currency; Meta's minor units need the currency's offset.
with

meta_adsets as (
    select * from {{ ref('stg_meta_ads__adsets') }}
),

meta_campaigns as (
    select * from {{ ref('stg_meta_ads__campaigns') }}
),

meta_accounts as (
    select * from {{ ref('stg_meta_ads__accounts') }}
),

google_campaign_budgets as (
    select * from {{ ref('stg_google_ads__campaign_budgets') }}
),

google_ad_stats as (
    select * from {{ ref('stg_google_ads__ad_stats') }}
),

meta_entities as (
    select
        'adset' as budget_entity_type,
        adset_id as budget_entity_id,
        adset_name as budget_entity_name,
        account_id,
        daily_budget_minor,
        adset_status as status
    from meta_adsets
    where daily_budget_minor is not null
    union all
    select
        'campaign' as budget_entity_type,
        campaign_id as budget_entity_id,
        campaign_name as budget_entity_name,
        account_id,
        daily_budget_minor,
        campaign_status as status
    from meta_campaigns
    where daily_budget_minor is not null
),

meta_budgets as (
    select
        'meta_ads' as platform,
        meta_entities.budget_entity_type,
        meta_entities.budget_entity_id,
        meta_entities.budget_entity_name,
        meta_entities.daily_budget_minor
        / {{ meta_currency_offset('meta_accounts.currency') }} as daily_budget,
        meta_accounts.currency,
        false as explicitly_shared,
        meta_entities.status
    from meta_entities
    left join meta_accounts
        on meta_entities.account_id = meta_accounts.account_id
),

google_currencies as (
    -- a campaign budget carries no currency: its customer's, from the latest ad stats
    select
        customer_id,
        {{ value_at_max('currency', 'date_day') }} as currency
    from google_ad_stats
    group by customer_id
),

google_budgets as (
    select
        'google_ads' as platform,
        'campaign_budget' as budget_entity_type,
        google_campaign_budgets.campaign_budget_id as budget_entity_id,
        google_campaign_budgets.campaign_budget_name as budget_entity_name,
        google_campaign_budgets.amount_micros / 1000000.0 as daily_budget,
        google_currencies.currency,
        google_campaign_budgets.explicitly_shared,
        google_campaign_budgets.campaign_budget_status as status
    from google_campaign_budgets
    left join google_currencies
        on google_campaign_budgets.customer_id = google_currencies.customer_id
),

unioned as (
    {{ union_all_by_name(
        ['meta_budgets', 'google_budgets'],
        ['platform', 'budget_entity_type', 'budget_entity_id', 'budget_entity_name', 'daily_budget', 'currency',
        'explicitly_shared', 'status'],
    ) }}
),

final as (
    select
        cast(platform as string) as platform,
        cast(budget_entity_type as string) as budget_entity_type,
        cast(budget_entity_id as string) as budget_entity_id,
        cast(budget_entity_name as string) as budget_entity_name,
        cast(daily_budget as double) as daily_budget,
        cast(currency as string) as currency,
        cast(explicitly_shared as boolean) as explicitly_shared,
        cast(status as string) as status
    from unioned
)

select * from final
