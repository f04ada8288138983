{#-
    Incremental email models rebuild every send whose inputs can still change, not only the
    newest ones. Events arrive late (the Klaviyo load re-reads var('late_event_lookback_days')
    days behind its cursor) and an order credits a send whose touch happened up to
    var('attribution_window_days') before it, so a new or corrected event at time t can change
    sends with an event as old as t - attribution window. The window therefore starts at the
    newest send already built, less the late-event lookback, less the attribution window.

    Rows derived only from older events keep their last built values: events loaded later than
    the lookback, and changes to dimensions (a message's labels, a profile's contact) for old
    sends, reach them only on `dbt build --full-refresh`.
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
