-- CRM activity per day (lifecycle stage changes, new leads, deals created and won) and the
-- newest CRM timestamp seen that day, for the anomaly scan's volume and freshness series.
with

crm_funnel as (
    select * from {{ ref('fct_crm_funnel') }}
),

deals as (
    select * from {{ ref('fct_deals') }}
),

transitions as (
    select
        cast(transitioned_at as date) as date_day,
        count(*) as crm_stage_changes,
        count(*) filter (where to_stage = 'lead') as crm_leads,
        cast(null as bigint) as deals_created,
        cast(null as bigint) as deals_won,
        max(transitioned_at) as newest
    from crm_funnel
    group by all
),

deals_created as (
    select
        cast(created_at as date) as date_day,
        cast(null as bigint) as crm_stage_changes,
        cast(null as bigint) as crm_leads,
        count(*) as deals_created,
        0 as deals_won,
        max(created_at) as newest
    from deals
    group by all
),

deals_closed as (
    select
        cast(closed_at as date) as date_day,
        cast(null as bigint) as crm_stage_changes,
        cast(null as bigint) as crm_leads,
        0 as deals_created,
        count(*) filter (where outcome = 'won') as deals_won,
        max(closed_at) as newest
    from deals
    where closed_at is not null
    group by all
),

unioned as (
    {{ union_all_by_name(
        ['transitions', 'deals_created', 'deals_closed'],
        ['date_day', 'crm_stage_changes', 'crm_leads', 'deals_created', 'deals_won', 'newest'],
    ) }}
),

final as (
    select
        date_day,
        sum(crm_stage_changes) as crm_stage_changes,
        sum(crm_leads) as crm_leads,
        sum(deals_created) as deals_created,
        sum(deals_won) as deals_won,
        max(newest) as newest
    from unioned
    where date_day is not null
    group by all
)

select * from final
