with

deals as (
    select * from {{ ref('stg_hubspot__deals') }}
),

pipeline_stages as (
    select * from {{ ref('stg_hubspot__pipeline_stages') }}
),

deal_contacts as (
    select * from {{ ref('stg_hubspot__deal_contacts') }}
),

identities as (
    select * from {{ ref('int_contact_identities_unioned') }}
    where source_system = 'hubspot'
),

deal_primary_contacts as (
    -- a deal with several contacts is credited to the lowest HubSpot contact id
    select
        deal_contacts.deal_id,
        deal_contacts.hubspot_contact_id,
        identities.contact_id
    from deal_contacts
    left join identities
        on deal_contacts.hubspot_contact_id = identities.source_record_id
    qualify row_number() over (
        partition by deal_contacts.deal_id
        order by try_cast(deal_contacts.hubspot_contact_id as bigint) nulls last, deal_contacts.hubspot_contact_id
    ) = 1
),

classified as (
    select
        deals.deal_id,
        deal_primary_contacts.contact_id,
        deal_primary_contacts.hubspot_contact_id,
        deals.pipeline_id,
        deals.deal_stage_id,
        case
            when deals.deal_stage_id = 'closedwon' then 'won'
            when deals.deal_stage_id = 'closedlost' then 'lost'
            when pipeline_stages.is_closed and pipeline_stages.probability >= 1 then 'won'
            when pipeline_stages.is_closed then 'lost'
            else 'open'
        end as outcome,
        deals.amount,
        deals.created_at,
        deals.closed_at,
        deals.analytics_source
    from deals
    left join pipeline_stages
        on
            deals.pipeline_id = pipeline_stages.pipeline_id
            and deals.deal_stage_id = pipeline_stages.deal_stage_id
    left join deal_primary_contacts
        on deals.deal_id = deal_primary_contacts.deal_id
),

final as (
    select
        deal_id,
        contact_id,
        hubspot_contact_id,
        pipeline_id,
        deal_stage_id,
        outcome,
        amount,
        case when outcome = 'won' then coalesce(amount, 0) else 0 end as won_revenue,
        created_at,
        case when outcome != 'open' then closed_at end as closed_at,
        case
            when outcome != 'open' then cast({{ datediff('created_at', 'closed_at', 'second') }} as double) / 86400
        end as days_to_close,
        analytics_source
    from classified
)

select * from final
