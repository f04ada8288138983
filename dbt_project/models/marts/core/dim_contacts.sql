with

contacts as (
    select * from {{ ref('int_contacts_resolved') }}
),

final as (
    select
        contacts.contact_id,
        contacts.contact_id as email_sha256,
        contacts.klaviyo_profile_id,
        contacts.hubspot_contact_id,
        contacts.timezone,
        contacts.email_consent,
        coalesce(contacts.email_consent = 'SUBSCRIBED', false) as is_subscribed,
        contacts.holdout_group,
        coalesce(contacts.holdout_group = 'global_holdout', false) as is_in_global_holdout,
        contacts.lifecycle_stage,
        contacts.created_at
    from contacts
)

select * from final
