-- One row per source record (Klaviyo profile or HubSpot contact) with its resolved contact_id.
with

klaviyo_profiles as (
    select * from {{ ref('stg_klaviyo__profiles') }}
),

hubspot_contacts as (
    select * from {{ ref('stg_hubspot__contacts') }}
),

klaviyo_identities as (
    select
        'klaviyo' as source_system,
        klaviyo_profiles.klaviyo_profile_id as source_record_id,
        {{ contact_id_from_email('klaviyo_profiles.email') }} as contact_id,
        klaviyo_profiles.created_at,
        klaviyo_profiles.updated_at
    from klaviyo_profiles
),

hubspot_identities as (
    select
        'hubspot' as source_system,
        hubspot_contacts.hubspot_contact_id as source_record_id,
        {{ contact_id_from_email('hubspot_contacts.email') }} as contact_id,
        hubspot_contacts.created_at,
        hubspot_contacts.updated_at
    from hubspot_contacts
),

unioned as (
    select * from klaviyo_identities
    union all
    select * from hubspot_identities
),

final as (
    select
        source_system,
        source_record_id,
        contact_id,
        created_at,
        updated_at,
        contact_id is not null as has_valid_email,
        -- the most recently updated record of each source represents the contact
        contact_id is not null
        and row_number() over (
            partition by source_system, contact_id
            order by updated_at desc nulls last, source_record_id desc
        ) = 1 as is_primary_record
    from unioned
)

select * from final
