{#-
    fct_experiment_exposures' CRM outcomes of each row of `exposures` (a relation with
    experiment_id, unit_id, variant and exposed_at): whether the unit became a marketing qualified
    lead after its exposure, and the deals it created after it and their won revenue. The model
    computes them for the rows it builds; its post-hook refresh_exposure_crm_outcomes for the rows
    it keeps.
-#}
{% macro exposure_crm_outcomes(exposures) -%}
    (
        select
            exposed.experiment_id,
            exposed.unit_id,
            exposed.variant,
            coalesce(contacts.marketing_qualified_lead_at >= exposed.exposed_at, false) as became_mql,
            coalesce(unit_deals.deals_created, 0) > 0 as deal_created,
            coalesce(unit_deals.won_revenue, 0) as won_revenue
        from {{ exposures }} as exposed
        left join {{ ref('int_contacts_resolved') }} as contacts
            on exposed.unit_id = contacts.contact_id
        left join (
            select
                deal_exposures.experiment_id,
                deal_exposures.unit_id,
                deal_exposures.variant,
                count(*) as deals_created,
                sum(deals.won_revenue) as won_revenue
            from {{ exposures }} as deal_exposures
            inner join {{ ref('fct_deals') }} as deals
                on
                    deal_exposures.unit_id = deals.contact_id
                    and deal_exposures.exposed_at <= deals.created_at
            group by deal_exposures.experiment_id, deal_exposures.unit_id, deal_exposures.variant
        ) as unit_deals
            on
                exposed.experiment_id = unit_deals.experiment_id
                and exposed.unit_id = unit_deals.unit_id
                and exposed.variant = unit_deals.variant
    )
{%- endmacro %}

{#-
    Post-hook of an incremental build: the CRM outcomes of the rows the build kept follow their
    contacts and deals (a contact becomes a lead, a deal is won, months after the exposure). Only
    the rows whose outcomes changed are written, and they get this build's dbt_built_at.
    The outcomes are recomputed only where they can differ from false, false, 0: for a unit that
    is a lead or has a deal, or a row that holds another outcome. Every other row already holds
    what a full build gives it (on the large world that skips five in six rows).
-#}
{% macro refresh_exposure_crm_outcomes() -%}
    {%- if is_incremental() -%}
        {%- set candidates -%}
            (
                select * from {{ this }} as kept
                where
                    kept.dbt_built_at < {{ build_started_at() }}
                    and (
                        kept.became_mql
                        or kept.deal_created
                        or kept.won_revenue is distinct from 0
                        or kept.unit_id in (
                            select leads.contact_id from {{ ref('int_contacts_resolved') }} as leads
                            where leads.marketing_qualified_lead_at is not null
                        )
                        or kept.unit_id in (
                            select deals.contact_id from {{ ref('fct_deals') }} as deals
                            where deals.contact_id is not null
                        )
                    )
            )
        {%- endset -%}
        update {{ this }} as exposures
        set
            became_mql = fresh.became_mql,
            deal_created = fresh.deal_created,
            won_revenue = fresh.won_revenue,
            dbt_built_at = {{ build_started_at() }}
        from {{ exposure_crm_outcomes(candidates) }} as fresh
        where
            exposures.experiment_id = fresh.experiment_id
            and exposures.unit_id = fresh.unit_id
            and exposures.variant = fresh.variant
            and (
                exposures.became_mql is distinct from fresh.became_mql
                or exposures.deal_created is distinct from fresh.deal_created
                or exposures.won_revenue is distinct from fresh.won_revenue
            )
    {%- endif -%}
{%- endmacro %}

{#-
    Post-hook of an incremental build: experiments the data no longer yields lose their rows. The
    build rewrote every flow split, Loopwise test and the global holdout, and the campaign A/B
    tests with a changed send; a row it did not write belongs to a campaign A/B test, which must
    still have a test-phase send to a person.
-#}
{% macro remove_vanished_experiments() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as exposures
        where
            exposures.dbt_built_at < {{ build_started_at() }}
            and exposures.experiment_id not in (
                select 'campaign_ab:' || sends.campaign_id
                from {{ ref('fct_email_sends') }} as sends
                where
                    sends.send_type = 'campaign'
                    and sends.ab_test_phase = 'test'
                    and sends.campaign_id is not null
                    and sends.contact_id is not null
            )
    {%- endif -%}
{%- endmacro %}
