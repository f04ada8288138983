-- One row per email message with its content topic and angle, and where the tag came from.
-- Two sources, the first that applies wins:
--   1. seed_rule: the team's mapping (seeds/content_tags.csv), the lowest rule_id whose
--      case-insensitive LIKE pattern matches the rule's field of the message;
--   2. preview_text: a catalog in the preview text, "<angle> | <topic>" (the sandbox serves this;
--      for a template Loopwise wrote, its else branch),
--      taken only when the angle is a known one (var content_angles), so free-text previews of a
--      real account never produce a tag.
-- Anything else stays untagged (angle and topic null); the singular test
-- assert_every_sent_message_is_tagged warns about every untagged message that was sent.
with

messages as (
    select * from {{ ref('int_email_messages_unioned') }}
),

campaign_messages as (
    select * from {{ ref('stg_klaviyo__campaign_messages') }}
),

campaigns as (
    select * from {{ ref('stg_klaviyo__campaigns') }}
),

flows as (
    select * from {{ ref('stg_klaviyo__flows') }}
),

rules as (
    select * from {{ ref('content_tags') }}
),

described as (
    select
        messages.message_id,
        messages.send_type,
        messages.campaign_id,
        messages.flow_id,
        messages.subject,
        campaign_messages.preview_text,
        campaigns.campaign_name,
        flows.flow_name
    from messages
    left join campaign_messages
        on messages.message_id = campaign_messages.message_id
    left join campaigns
        on messages.campaign_id = campaigns.campaign_id
    left join flows
        on messages.flow_id = flows.flow_id
),

rule_matches as (
    select
        described.message_id,
        cast(rules.rule_id as bigint) as rule_id,
        cast(rules.topic as string) as topic,
        cast(rules.angle as string) as angle
    from described
    inner join rules
        on case lower(cast(rules.match_field as string))
            when 'message_id' then described.message_id
            when 'subject' then described.subject
            when 'preview_text' then described.preview_text
            when 'campaign_name' then described.campaign_name
            when 'flow_name' then described.flow_name
        end ilike cast(rules.pattern as string)
    qualify row_number() over (partition by described.message_id order by rules.rule_id) = 1
),

-- A preview text Loopwise made a per-recipient template of (content choice: one conditional block
-- per approved angle) is tagged by its else branch, the message's own text; each recipient's angle
-- is in results.content_assignments.
own_preview as (
    select
        described.message_id,
        coalesce(
            nullif(regexp_extract(described.preview_text, '[{]%[ ]*else[ ]*%[}](.*)[{]%[ ]*endif', 1), ''),
            described.preview_text
        ) as catalog_text
    from described
),

catalog as (
    select
        own_preview.message_id,
        nullif(trim(split_part(own_preview.catalog_text, '|', 2)), '') as topic,
        replace(lower(trim(split_part(own_preview.catalog_text, '|', 1))), ' ', '_') as angle_label
    from own_preview
    where own_preview.catalog_text like '%|%'
),

catalog_tags as (
    select
        catalog.message_id,
        catalog.topic,
        case catalog.angle_label when 'promo' then 'promotion' else catalog.angle_label end as angle
    from catalog
),

known_angles as (
    {%- for angle in var('content_angles') %}
        {{ "union all " if not loop.first }}select '{{ angle }}' as angle
    {%- endfor %}
),

known_catalog_tags as (
    select catalog_tags.*
    from catalog_tags
    inner join known_angles
        on catalog_tags.angle = known_angles.angle
    where catalog_tags.topic is not null
),

final as (
    select
        described.message_id,
        described.send_type,
        described.campaign_id,
        described.flow_id,
        described.subject,
        described.preview_text,
        coalesce(rule_matches.topic, known_catalog_tags.topic) as topic,
        coalesce(rule_matches.angle, known_catalog_tags.angle) as angle,
        case
            when rule_matches.message_id is not null then 'seed_rule'
            when known_catalog_tags.message_id is not null then 'preview_text'
            else 'untagged'
        end as tag_source,
        rule_matches.rule_id as tag_rule_id
    from described
    left join rule_matches
        on described.message_id = rule_matches.message_id
    left join known_catalog_tags
        on described.message_id = known_catalog_tags.message_id
)

select * from final
