{%- set lifecycle_stages = [
    ('subscriber', 1, 'subscriber_at'),
    ('lead', 2, 'lead_at'),
    ('marketingqualifiedlead', 3, 'marketing_qualified_lead_at'),
    ('salesqualifiedlead', 4, 'sales_qualified_lead_at'),
    ('opportunity', 5, 'opportunity_at'),
    ('customer', 6, 'customer_at'),
] -%}

with

hubspot_contacts as (
    select * from {{ ref('stg_hubspot__contacts') }}
),

contacts as (
    select * from {{ ref('int_contacts_resolved') }}
    where hubspot_contact_id is not null
),

primary_hubspot_contacts as (
    -- the representative HubSpot record of each person
    select
        contacts.contact_id,
        hubspot_contacts.*
    from contacts
    inner join hubspot_contacts
        on contacts.hubspot_contact_id = hubspot_contacts.hubspot_contact_id
),

stage_entries as (
    {% for stage_name, stage_order, date_column in lifecycle_stages %}
        select
            primary_hubspot_contacts.contact_id,
            primary_hubspot_contacts.hubspot_contact_id,
            primary_hubspot_contacts.analytics_source,
            '{{ stage_name }}' as to_stage,
            {{ stage_order }} as stage_order,
            primary_hubspot_contacts.{{ date_column }} as transitioned_at
        from primary_hubspot_contacts
        where primary_hubspot_contacts.{{ date_column }} is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

sequenced as (
    -- stages follow the funnel order; skipped stages are simply absent.
    -- HubSpot can date a stage before an earlier one (a sync backlog lands in one burst), so the
    -- time in the previous stage runs from the latest earlier stage date, not the previous one
    select
        stage_entries.contact_id,
        stage_entries.hubspot_contact_id,
        lag(stage_entries.to_stage) over contact_funnel as from_stage,
        stage_entries.to_stage,
        stage_entries.stage_order,
        stage_entries.transitioned_at,
        max(stage_entries.transitioned_at) over (
            partition by stage_entries.contact_id
            order by stage_entries.stage_order
            rows between unbounded preceding and 1 preceding
        ) as earlier_stages_reached_at,
        stage_entries.analytics_source
    from stage_entries
    window contact_funnel as (partition by stage_entries.contact_id order by stage_entries.stage_order)
),

final as (
    select
        contact_id,
        hubspot_contact_id,
        from_stage,
        to_stage,
        stage_order,
        transitioned_at,
        -- an entry dated before an earlier stage counts as made on reaching that stage (zero days)
        cast({{ datediff(
            'earlier_stages_reached_at', 'greatest(transitioned_at, earlier_stages_reached_at)', 'second'
        ) }} as double) / 86400 as days_in_previous_stage,
        analytics_source
    from sequenced
)

select * from final
