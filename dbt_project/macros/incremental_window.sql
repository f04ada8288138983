{#-
    The rebuild window of the incremental models that keep one (fct_email_campaign_variant_daily,
    fct_flow_journeys): every day or journey whose inputs can still change, not only the newest.
    Events arrive late (the Klaviyo load re-reads var('late_event_lookback_days') days behind its
    cursor) and an order credits a send whose touch happened up to var('attribution_window_days')
    before it, so a new or corrected event at time t can change sends with an event as old as
    t - attribution window. The window therefore starts at the newest row already built, less the
    late-event lookback, less the attribution window. Events loaded later than the lookback reach
    those rows only on `dbt build --full-refresh`. The send and order models need no window: they
    rebuild the rows whose inputs the events table rewrote (dbt_built_at, this_built_at below).
-#}
{% macro email_rebuild_window_start(timestamp_column) -%}
    (
        select
            coalesce(
                {{ dateadd(
                    'day',
                    -((var('late_event_lookback_days') | int) + (var('attribution_window_days') | int)),
                    'max(' ~ timestamp_column ~ ')',
                ) }},
                cast('1900-01-01' as timestamp)
            )
        from {{ this }}
    )
{%- endmacro %}

{#- The sends with any email event at or after `window_start` (see email_rebuild_window_start). -#}
{% macro email_send_ids_to_rebuild(window_start) -%}
    (
        select distinct events_to_rebuild.email_send_id
        from {{ ref('int_email_events_enriched') }} as events_to_rebuild
        where
            events_to_rebuild.email_send_id is not null
            and events_to_rebuild.occurred_at >= {{ window_start }}
    )
{%- endmacro %}


{#-
    The Klaviyo profiles in `this` (a model with klaviyo_profile_id and contact_id, one contact per
    profile) that now resolve to another person, or to none: their email changed. Their rows are
    rebuilt whatever their age. A profile's person is the hash of its own email, so it changes
    only when dlt reloads the profile: `reloaded_after` (a load id, as SQL) limits the comparison to
    the profiles loaded after it; without it every profile in `this` is compared.
-#}
{% macro klaviyo_profiles_with_another_contact(reloaded_after=none) -%}
    (
        select built.klaviyo_profile_id
        from (
            select distinct
                klaviyo_profile_id,
                contact_id
            from {{ this }}
            {% if reloaded_after is not none -%}
                where klaviyo_profile_id in (
                    select cast(reloaded.profile_id as string)
                    from {{ source('klaviyo', 'profiles') }} as reloaded
                    where reloaded._dlt_load_id > {{ reloaded_after }}
                )
            {%- endif %}
        ) as built
        left join {{ ref('int_contact_identities_unioned') }} as identities
            on
                identities.source_system = 'klaviyo'
                and built.klaviyo_profile_id = identities.source_record_id
        where built.contact_id is distinct from identities.contact_id
    )
{%- endmacro %}

{#-
    An incremental build of a model whose table lacks `column` (built before the model became
    incremental, or before it had the column) stops with what to do, instead of a SQL error
    about a missing column in the increment's filter.
-#}
{% macro require_built_column(column) -%}
    {%- if is_incremental() and column not in adapter.get_columns_in_relation(this) | map(attribute='name') -%}
        {{ exceptions.raise_compiler_error(
            this ~ " has no column " ~ column ~ ": it was built before the model became incremental. "
            ~ "Rebuild it once with `dbt build --full-refresh` (in Dagster, the dbt asset's full_refresh config)."
        ) }}
    {%- endif -%}
{%- endmacro %}

{#-
    fct_flow_journeys' post-hook: after an incremental build every row's data_as_of is the newest
    email event, as in a full build. The rows the build did not replace are final journeys (their
    next step was due by the previous data_as_of, or they have none), so their exit_reason and
    next_step_is_due do not depend on it.
-#}
{% macro move_flow_journeys_data_as_of() -%}
    {%- if is_incremental() -%}
        update {{ this }} as journeys
        set data_as_of = data_end.data_as_of
        from (select max(all_events.occurred_at) as data_as_of from {{ ref('int_email_events_enriched') }} as all_events) as data_end
        where journeys.data_as_of is distinct from data_end.data_as_of
    {%- endif -%}
{%- endmacro %}

{#-
    fct_flow_journeys: an email event (of the relation `events`) that ends every journey of its
    profile, from any send: an unsubscribe, a spam complaint or a hard bounce.
-#}
{% macro ends_every_journey(events) -%}
    (
        {{ events }}.event_type in ('unsubscribed', 'marked_spam')
        or ({{ events }}.event_type = 'bounced' and {{ events }}.bounce_type = 'hard')
    )
{%- endmacro %}

{#-
    dbt_built_at on the incremental models: when the build that wrote the row started (dbt's
    run_started_at, UTC). An incremental build writes only the rows whose inputs can have changed,
    so it tells which rows a build wrote; the `unique` tests on increments read it
    (macros/unique_test.sql).
-#}
{% macro build_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- The newest dbt_built_at in `this`: rows another model wrote after it are new to this build. -#}
{% macro this_built_at() -%}
    (select coalesce(max(built.dbt_built_at), cast('1900-01-01' as timestamp)) from {{ this }} as built)
{%- endmacro %}

{#-
    int_email_order_events' pre-hook: the events int_email_events_enriched rewrote since the table
    was built that are no longer orders (their metric was renamed) leave it. The build then
    replaces the rewritten events that are orders.
-#}
{% macro remove_rewritten_non_orders() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where event_id in (
            select rewritten.event_id
            from {{ ref('int_email_events_enriched') }} as rewritten
            where
                rewritten.dbt_built_at > {{ this_built_at() }}
                and rewritten.event_type is distinct from 'placed_order'
        )
    {%- endif -%}
{%- endmacro %}

{#- int_orders_attributed's pre-hook: orders that are no longer orders (a renamed metric) leave it. -#}
{% macro remove_vanished_orders() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where order_event_id not in (select order_events.event_id from {{ ref('int_email_order_events') }} as order_events)
    {%- endif -%}
{%- endmacro %}
