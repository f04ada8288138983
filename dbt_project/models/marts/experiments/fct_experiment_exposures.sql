-- One row per experiment x unit (person) x arm: campaign A/B test phases, flow step splits,
-- Loopwise's own standing tests (and their holdbacks after a rollout), and the global holdout
-- against everyone who received email. A unit in more than one arm of the same experiment is
-- contaminated (arm_count > 1).
--
-- Incremental (DuckDB; a table on Spark), per experiment (delete+insert on experiment_id): a build
-- rebuilds the campaign A/B tests of the campaigns with a send that fct_email_sends wrote since
-- this table was built, and every flow split, Loopwise test and the global holdout (they read
-- the flow sends, the assignments or every contact, and are small). Two post-hooks keep the
-- other rows equal to a full build: the CRM outcomes (became_mql, deal_created, won_revenue) of
-- every row are refreshed where a contact or deal changed, after the experiments the data no
-- longer holds are removed (macros/experiment_exposures.sql; tests/dbt/test_dbt_incremental.py).
{{
    config(
        materialized=incremental_or_table(),
        unique_key='experiment_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{{ remove_vanished_experiments() }}",
            "{{ refresh_exposure_crm_outcomes() }}",
        ],
    )
}}
{{ require_built_column('dbt_built_at') }}

with

sends as {{ cte_inline() }} (
    select * from {{ ref('fct_email_sends') }}
    where contact_id is not null
),

messages as (
    select * from {{ ref('int_email_messages_unioned') }}
),

contacts as (
    select * from {{ ref('int_contacts_resolved') }}
),

orders as (
    select * from {{ ref('int_orders_attributed') }}
    where contact_id is not null
),

assignments as (
    -- written by Loopwise after each bulk property write; empty until its first test
    select * from {{ source_if_exists('results', 'experiment_assignments', {
        'experiment_id': 'string',
        'contact_id': 'string',
        'klaviyo_profile_id': 'string',
        'arm': 'string',
        'assigned_at': 'timestamp with time zone',
        'action_id': 'string',
    }) }}
),

assignment_instants as (
    -- as naive UTC, like the sends' sent_at: compared with millions of sends, a time zone cast
    -- per comparison cost more than the rest of the join
    select
        assignments.experiment_id,
        assignments.contact_id,
        assignments.arm,
        {{ to_utc('assignments.assigned_at') }} as assigned_at
    from assignments
),

assignment_periods as (
    -- each assignment holds from its assigned_at until the contact's next one in the same test;
    -- the launch's assignments (control / variant) are the test, later ones (variant / holdback
    -- after a rollout) the holdback that keeps measuring the rolled-out change
    select
        assignment_instants.experiment_id as test_id,
        assignment_instants.contact_id,
        assignment_instants.arm,
        assignment_instants.assigned_at,
        lead(assignment_instants.assigned_at) over (
            partition by assignment_instants.experiment_id, assignment_instants.contact_id
            order by assignment_instants.assigned_at
        ) as replaced_at,
        min(assignment_instants.assigned_at) over (partition by assignment_instants.experiment_id) as launched_at
    from assignment_instants
),

rollouts as (
    -- when each rolled-out test left its test phase: its first assignment after the launch
    select
        assignment_periods.test_id,
        min(assignment_periods.assigned_at) as rolled_out_at
    from assignment_periods
    where assignment_periods.assigned_at > assignment_periods.launched_at
    group by assignment_periods.test_id
),

phase_periods as (
    -- the test phase ends at the rollout for everyone: a rollout records only the contacts whose
    -- arm changed, so a contact already on the variant has no new row, and its later sends would
    -- otherwise stay in the test (one arm growing after the decision, the other not)
    select
        assignment_periods.test_id,
        assignment_periods.contact_id,
        assignment_periods.arm,
        'loopwise_test' as experiment_type,
        assignment_periods.assigned_at as starts_at,
        case
            when
                rollouts.rolled_out_at is not null
                and (assignment_periods.replaced_at is null or rollouts.rolled_out_at < assignment_periods.replaced_at)
                then rollouts.rolled_out_at
            else assignment_periods.replaced_at
        end as ends_at
    from assignment_periods
    left join rollouts on assignment_periods.test_id = rollouts.test_id
    where assignment_periods.assigned_at = assignment_periods.launched_at

    union all

    -- ... and that contact carries on in the holdback phase on the variant it already had
    select
        assignment_periods.test_id,
        assignment_periods.contact_id,
        assignment_periods.arm,
        'loopwise_holdback' as experiment_type,
        rollouts.rolled_out_at as starts_at,
        assignment_periods.replaced_at as ends_at
    from assignment_periods
    inner join rollouts on assignment_periods.test_id = rollouts.test_id
    where
        assignment_periods.assigned_at = assignment_periods.launched_at
        and assignment_periods.arm = 'variant'
        and (assignment_periods.replaced_at is null or assignment_periods.replaced_at > rollouts.rolled_out_at)

    union all

    select
        assignment_periods.test_id,
        assignment_periods.contact_id,
        assignment_periods.arm,
        'loopwise_holdback' as experiment_type,
        assignment_periods.assigned_at as starts_at,
        assignment_periods.replaced_at as ends_at
    from assignment_periods
    where assignment_periods.assigned_at > assignment_periods.launched_at
),

campaign_sends as (
    select * from sends
    where send_type = 'campaign'
),

loopwise_tests as (
    select distinct assignment_periods.test_id
    from assignment_periods
),

tested_messages as (
    -- the campaign messages that carried a test: their subject (as ingested, the template as
    -- written) reads the test's profile property lw_arm_<library id>_<yyyymmdd>; sends of
    -- campaigns Loopwise did not reach in time carry no treatment and are not exposures
    select distinct
        loopwise_tests.test_id,
        messages.message_id
    from messages
    inner join loopwise_tests
        on contains(
            messages.subject,
            'person|lookup:'''
            || {{ regex_replace_groups('loopwise_tests.test_id', '^lw-(.*)-([0-9]{8})$', 'lw_arm_\\1_\\2') }}
            || ''''
        )
    where messages.send_type = 'campaign'
),

loopwise_sends as (
    select
        case
            when phase_periods.experiment_type = 'loopwise_test' then 'loopwise:' || phase_periods.test_id
            else 'loopwise:' || phase_periods.test_id || ':holdback'
        end as experiment_id,
        phase_periods.experiment_type,
        phase_periods.test_id,
        phase_periods.arm as variant,
        campaign_sends.contact_id as unit_id,
        campaign_sends.sent_at,
        campaign_sends.is_delivered,
        campaign_sends.is_opened,
        campaign_sends.is_human_opened,
        campaign_sends.is_clicked,
        campaign_sends.is_converted,
        campaign_sends.attributed_revenue,
        campaign_sends.is_unsubscribed,
        campaign_sends.is_spam_complaint,
        campaign_sends.is_bounced
    from campaign_sends
    inner join phase_periods
        on
            campaign_sends.contact_id = phase_periods.contact_id
            and campaign_sends.sent_at >= phase_periods.starts_at
            and (phase_periods.ends_at is null or campaign_sends.sent_at < phase_periods.ends_at)
    inner join tested_messages
        on
            phase_periods.test_id = tested_messages.test_id
            and campaign_sends.message_id = tested_messages.message_id
),

launched_tests as (
    select distinct
        assignment_periods.test_id,
        assignment_periods.contact_id,
        assignment_periods.launched_at
    from assignment_periods
),

loopwise_pre_period as (
    -- each enrolled contact's campaign click rate in the 8 weeks before the test launched:
    -- the CUPED covariate (null when nothing was delivered to them then)
    select
        launched_tests.test_id,
        campaign_sends.contact_id,
        count(*) filter (where campaign_sends.is_clicked)
        / nullif(count(*) filter (where campaign_sends.is_delivered), 0) as pre_click_rate
    from campaign_sends
    inner join launched_tests
        on
            campaign_sends.contact_id = launched_tests.contact_id
            and campaign_sends.sent_at < launched_tests.launched_at
            and campaign_sends.sent_at >= launched_tests.launched_at - interval 56 days
    group by launched_tests.test_id, campaign_sends.contact_id
),

split_flow_actions as (
    select messages.flow_action_id
    from messages
    where messages.send_type = 'flow' and messages.flow_action_id is not null
    group by messages.flow_action_id
    having count(distinct coalesce(messages.variant_label, messages.message_id)) > 1
),

arm_sends as (
    select
        'campaign_ab:' || sends.campaign_id as experiment_id,
        'campaign_ab' as experiment_type,
        cast(null as string) as test_id,
        coalesce(sends.variant_label, sends.message_id) as variant,
        sends.contact_id as unit_id,
        sends.sent_at,
        sends.is_delivered,
        sends.is_opened,
        sends.is_human_opened,
        sends.is_clicked,
        sends.is_converted,
        sends.attributed_revenue,
        sends.is_unsubscribed,
        sends.is_spam_complaint,
        sends.is_bounced
    from sends
    where
        sends.send_type = 'campaign' and sends.ab_test_phase = 'test' and sends.campaign_id is not null
        {% if is_incremental() %}
            -- the campaigns with a send written since (any of its sends: one that left the test
            -- phase or its person counts too)
            and sends.campaign_id in (
                select rewritten.campaign_id
                from {{ ref('fct_email_sends') }} as rewritten
                where rewritten.dbt_built_at > {{ this_built_at() }}
            )
        {% endif %}

    union all

    select
        'flow_split:' || sends.flow_action_id as experiment_id,
        'flow_split' as experiment_type,
        cast(null as string) as test_id,
        coalesce(sends.variant_label, sends.message_id) as variant,
        sends.contact_id as unit_id,
        sends.sent_at,
        sends.is_delivered,
        sends.is_opened,
        sends.is_human_opened,
        sends.is_clicked,
        sends.is_converted,
        sends.attributed_revenue,
        sends.is_unsubscribed,
        sends.is_spam_complaint,
        sends.is_bounced
    from sends
    inner join split_flow_actions
        on sends.flow_action_id = split_flow_actions.flow_action_id

    union all

    select * from loopwise_sends
),

email_arm_exposures as (
    select
        arm_sends.experiment_id,
        arm_sends.experiment_type,
        arm_sends.variant,
        arm_sends.unit_id,
        min(arm_sends.sent_at) as exposed_at,
        bool_or(arm_sends.is_delivered) as is_delivered,
        bool_or(arm_sends.is_opened) as is_opened,
        bool_or(arm_sends.is_human_opened) as is_human_opened,
        bool_or(arm_sends.is_clicked) as is_clicked,
        bool_or(arm_sends.is_converted) as is_converted,
        sum(arm_sends.attributed_revenue) as revenue,
        bool_or(arm_sends.is_unsubscribed) as is_unsubscribed,
        bool_or(arm_sends.is_spam_complaint) as is_spam_complaint,
        bool_or(arm_sends.is_bounced) as is_bounced,
        count(*) filter (where arm_sends.is_delivered) as delivered_sends,
        count(*) filter (where arm_sends.is_clicked) as clicked_sends,
        count(*) filter (where arm_sends.is_converted) as converted_sends,
        any_value(loopwise_pre_period.pre_click_rate) as pre_click_rate
    from arm_sends
    left join loopwise_pre_period  -- Loopwise's tests only: the CUPED covariate
        on
            arm_sends.test_id = loopwise_pre_period.test_id
            and arm_sends.unit_id = loopwise_pre_period.contact_id
    group by arm_sends.experiment_id, arm_sends.experiment_type, arm_sends.variant, arm_sends.unit_id
),

contact_email_outcomes as (
    -- one pass over the sends for everything the global holdout needs per contact
    select
        sends.contact_id,
        min(sends.sent_at) filter (where sends.is_delivered) as first_delivered_at,
        bool_or(sends.is_delivered) as is_delivered,
        bool_or(sends.is_opened) as is_opened,
        bool_or(sends.is_human_opened) as is_human_opened,
        bool_or(sends.is_clicked) as is_clicked,
        bool_or(sends.is_unsubscribed) as is_unsubscribed,
        bool_or(sends.is_spam_complaint) as is_spam_complaint,
        bool_or(sends.is_bounced) as is_bounced
    from sends
    group by sends.contact_id
),

email_program_start as (
    select min(contact_email_outcomes.first_delivered_at) as first_delivered_at
    from contact_email_outcomes
),

holdout_units as (
    -- held out from the later of joining and the first email anyone received, so both arms
    -- count outcomes over comparable periods
    select
        contacts.contact_id as unit_id,
        'holdout' as variant,
        greatest(
            coalesce(contacts.klaviyo_created_at, contacts.created_at),
            email_program_start.first_delivered_at
        ) as exposed_at
    from contacts
    cross join email_program_start
    where contacts.holdout_group = 'global_holdout'
),

email_receiving_units as (
    select
        contact_email_outcomes.contact_id as unit_id,
        'treatment' as variant,
        contact_email_outcomes.first_delivered_at as exposed_at
    from contact_email_outcomes
    where contact_email_outcomes.is_delivered
),

global_units as (
    select * from holdout_units
    union all
    select * from email_receiving_units
),

global_unit_orders as (
    -- the holdout gets no attributed revenue by design: compare every order after exposure
    select
        global_units.unit_id,
        global_units.variant,
        count(*) as order_count,
        sum(orders.order_value) as order_value
    from global_units
    inner join orders
        on
            global_units.unit_id = orders.contact_id
            and global_units.exposed_at <= orders.ordered_at
    group by global_units.unit_id, global_units.variant
),

global_exposures as (
    select
        'global_holdout' as experiment_id,
        'global_holdout' as experiment_type,
        global_units.variant,
        global_units.unit_id,
        global_units.exposed_at,
        coalesce(contact_email_outcomes.is_delivered, false) as is_delivered,
        coalesce(contact_email_outcomes.is_opened, false) as is_opened,
        coalesce(contact_email_outcomes.is_human_opened, false) as is_human_opened,
        coalesce(contact_email_outcomes.is_clicked, false) as is_clicked,
        coalesce(global_unit_orders.order_count, 0) > 0 as is_converted,
        coalesce(global_unit_orders.order_value, 0) as revenue,
        coalesce(contact_email_outcomes.is_unsubscribed, false) as is_unsubscribed,
        coalesce(contact_email_outcomes.is_spam_complaint, false) as is_spam_complaint,
        coalesce(contact_email_outcomes.is_bounced, false) as is_bounced,
        cast(null as bigint) as delivered_sends,
        cast(null as bigint) as clicked_sends,
        cast(null as bigint) as converted_sends,
        cast(null as double) as pre_click_rate
    from global_units
    left join contact_email_outcomes
        on global_units.unit_id = contact_email_outcomes.contact_id
    left join global_unit_orders
        on
            global_units.unit_id = global_unit_orders.unit_id
            and global_units.variant = global_unit_orders.variant
),

exposures as (
    select * from email_arm_exposures
    union all
    select * from global_exposures
),

first_variants as (
    -- grouped and joined back rather than windows: a window over millions of rows sorts them
    select
        exposures.experiment_id,
        min(exposures.variant) as first_variant
    from exposures
    group by exposures.experiment_id
),

unit_arm_counts as (
    select
        exposures.experiment_id,
        exposures.unit_id,
        count(*) as arm_count
    from exposures
    group by exposures.experiment_id, exposures.unit_id
),

crm_outcomes as (
    select * from {{ exposure_crm_outcomes('exposures') }}
),

final as (
    select
        exposures.experiment_id,
        exposures.experiment_type,
        exposures.variant,
        case
            when exposures.experiment_type = 'global_holdout' then exposures.variant = 'holdout'
            when exposures.experiment_type in ('loopwise_test', 'loopwise_holdback')
                then exposures.variant in ('control', 'holdback')
            else exposures.variant = first_variants.first_variant
        end as is_control,
        exposures.unit_id,
        exposures.exposed_at,
        unit_arm_counts.arm_count,
        exposures.is_delivered,
        exposures.is_opened,
        exposures.is_human_opened,
        exposures.is_clicked,
        exposures.is_converted,
        exposures.revenue,
        exposures.is_unsubscribed,
        exposures.is_spam_complaint,
        exposures.is_bounced,
        exposures.delivered_sends,
        exposures.clicked_sends,
        exposures.converted_sends,
        exposures.pre_click_rate,
        crm_outcomes.became_mql,
        crm_outcomes.deal_created,
        crm_outcomes.won_revenue,
        {{ build_started_at() }} as dbt_built_at
    from exposures
    inner join first_variants
        on exposures.experiment_id = first_variants.experiment_id
    inner join unit_arm_counts
        on
            exposures.experiment_id = unit_arm_counts.experiment_id
            and exposures.unit_id = unit_arm_counts.unit_id
    inner join crm_outcomes
        on
            exposures.experiment_id = crm_outcomes.experiment_id
            and exposures.unit_id = crm_outcomes.unit_id
            and exposures.variant = crm_outcomes.variant
)

select * from final
