-- One row per person (contact_id = sha256 of the normalised email) across Klaviyo and HubSpot.
-- A table, not a view like the other intermediate models: three marts and two tests read it, and
-- as a view each of them resolved every identity again (about a second each on the large world).
{{ config(materialized='table') }}

with

identities as (
    select * from {{ ref('int_contact_identities_unioned') }}
),

klaviyo_profiles as (
    select * from {{ ref('stg_klaviyo__profiles') }}
),

hubspot_contacts as (
    select * from {{ ref('stg_hubspot__contacts') }}
),

resolved_identities as (
    select
        identities.contact_id,
        max(
            case
                when identities.source_system = 'klaviyo' and identities.is_primary_record
                    then identities.source_record_id
            end
        ) as klaviyo_profile_id,
        max(
            case
                when identities.source_system = 'hubspot' and identities.is_primary_record
                    then identities.source_record_id
            end
        ) as hubspot_contact_id,
        count(case when identities.source_system = 'klaviyo' then 1 end) as klaviyo_profile_count,
        count(case when identities.source_system = 'hubspot' then 1 end) as hubspot_contact_count,
        min(identities.created_at) as created_at
    from identities
    where identities.has_valid_email
    group by identities.contact_id
),

holdout_memberships as (
    -- a person is held out when any of their Klaviyo profiles is
    select
        identities.contact_id,
        max(klaviyo_profiles.holdout_group) as holdout_group
    from identities
    inner join klaviyo_profiles
        on identities.source_record_id = klaviyo_profiles.klaviyo_profile_id
    where identities.source_system = 'klaviyo' and identities.has_valid_email
    group by identities.contact_id
),

final as (
    select
        resolved_identities.contact_id,
        resolved_identities.klaviyo_profile_id,
        resolved_identities.hubspot_contact_id,
        resolved_identities.klaviyo_profile_count,
        resolved_identities.hubspot_contact_count,
        klaviyo_profiles.timezone,
        klaviyo_profiles.email_consent,
        klaviyo_profiles.consent_at,
        holdout_memberships.holdout_group,
        hubspot_contacts.lifecycle_stage,
        hubspot_contacts.analytics_source,
        hubspot_contacts.marketing_qualified_lead_at,
        klaviyo_profiles.created_at as klaviyo_created_at,
        resolved_identities.created_at
    from resolved_identities
    left join klaviyo_profiles
        on resolved_identities.klaviyo_profile_id = klaviyo_profiles.klaviyo_profile_id
    left join hubspot_contacts
        on resolved_identities.hubspot_contact_id = hubspot_contacts.hubspot_contact_id
    left join holdout_memberships
        on resolved_identities.contact_id = holdout_memberships.contact_id
)

select * from final
