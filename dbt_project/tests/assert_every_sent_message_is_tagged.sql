-- Every message that was sent has a content tag (marts.dim_message_content): rows returned are the
-- untagged ones, with how many sends they had. Severity warn: a new campaign the team has not
-- mapped yet must not stop the build; the affinity model leaves its sends out until it is tagged.
{{ config(severity='warn') }}

with

sends as (
    select * from {{ ref('fct_email_sends') }}
),

content as (
    select * from {{ ref('dim_message_content') }}
),

final as (
    select
        sends.message_id,
        count(*) as sends
    from sends
    left join content
        on sends.message_id = content.message_id
    where content.angle is null
    group by sends.message_id
)

select * from final
