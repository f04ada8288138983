-- Sufficient statistics of every experiment x arm x metric x analysis date, cumulative by the
-- units' exposure day: n, sum_y, sum_yy, sum_x, sum_xx, sum_xy (x is a ratio metric's
-- denominator, else null). Every statistic the experiments' analysis reports is a function of
-- these sums, so Python reads this small table, never the exposures. Contaminated units
-- (arm_count > 1) are left out (fct_experiment_contamination counts them). Winsorized metrics
-- are capped at a percentile of the experiment's positive values, pooled over its arms.
{%- set metrics = experiment_metrics() %}
{%- set percentile = var('experiment_winsorize_percentile') %}
{%- set cumulative %}partition by grid.experiment_id, grid.variant, grid.metric
        order by grid.analysis_date rows between unbounded preceding and current row{% endset %}

with

clean as (
    select
        experiment_id,
        variant,
        is_control,
        cast(exposed_at as date) as exposure_date,
    {%- for metric in metrics %}
        cast({{ metric.numerator }} as double) as m{{ loop.index }}_y,
    {%- if metric.kind == 'ratio' %}
        cast({{ metric.denominator }} as double) as m{{ loop.index }}_x{{ ',' if not loop.last }}
    {%- else %}
        cast(null as double) as m{{ loop.index }}_x{{ ',' if not loop.last }}
    {%- endif %}
    {%- endfor %}
    from {{ ref('fct_experiment_exposures') }}
    where arm_count <= 1
),

caps as (
    select
        experiment_id,
    {%- for metric in metrics %}
        {%- set y = 'm' ~ loop.index ~ '_y' %}
        {%- if metric.winsorize %}
            {{ quantile_cont('case when ' ~ y ~ ' > 0 then ' ~ y ~ ' end', percentile) }} as {{ y }}_cap,
        {%- else %}
            cast(null as double) as {{ y }}_cap,
        {%- endif %}
        max({{ y }}) as {{ y }}_max{{ ',' if not loop.last }}
    {%- endfor %}
    from clean
    group by experiment_id
),

capped as (
    select
        clean.experiment_id,
        clean.variant,
        clean.is_control,
        clean.exposure_date,
    {%- for metric in metrics %}
        {%- set y = 'm' ~ loop.index ~ '_y' %}
        {%- set x = 'm' ~ loop.index ~ '_x' %}
        {%- if metric.winsorize %}
            least(clean.{{ y }}, caps.{{ y }}_cap) as {{ y }},
        {%- else %}
            clean.{{ y }},
        {%- endif %}
        {%- set valid = 'clean.' ~ y ~ ' is not null' %}
        {%- if metric.kind == 'ratio' %}{% set valid = valid ~ ' and clean.' ~ x ~ ' is not null' %}{% endif %}
        case when {{ valid }} then 1 else 0 end as {{ y }}_valid,
        clean.{{ x }}{{ ',' if not loop.last }}
    {%- endfor %}
    from clean
    left join caps on clean.experiment_id = caps.experiment_id
),

daily as (
    select
        experiment_id,
        variant,
        exposure_date,
        coalesce(bool_or(is_control), false) as is_control,
        count(*) as n_units,
    {%- for metric in metrics %}
        {%- set y = 'm' ~ loop.index ~ '_y' %}
        {%- set x = 'm' ~ loop.index ~ '_x' %}
        cast(sum({{ y }}_valid) as bigint) as {{ y }}_n,
        coalesce(sum(case when {{ y }}_valid = 1 then {{ y }} end), 0) as {{ y }}_sy,
        coalesce(sum(case when {{ y }}_valid = 1 then {{ y }} * {{ y }} end), 0) as {{ y }}_syy,
        sum(case when {{ y }}_valid = 1 then {{ x }} end) as {{ y }}_sx,
        sum(case when {{ y }}_valid = 1 then {{ x }} * {{ x }} end) as {{ y }}_sxx,
        sum(case when {{ y }}_valid = 1 then {{ x }} * {{ y }} end) as {{ y }}_sxy{{ ',' if not loop.last }}
    {%- endfor %}
    from capped
    group by experiment_id, variant, exposure_date
),

long as (
    {%- for metric in metrics %}
        {%- set y = 'm' ~ loop.index ~ '_y' %}
        select
            daily.experiment_id,
            daily.variant,
            daily.is_control,
            daily.exposure_date,
            '{{ metric.name }}' as metric,
            daily.n_units,
            daily.{{ y }}_n as n,
            daily.{{ y }}_sy as sum_y,
            daily.{{ y }}_syy as sum_yy,
            daily.{{ y }}_sx as sum_x,
            daily.{{ y }}_sxx as sum_xx,
            daily.{{ y }}_sxy as sum_xy,
            caps.{{ y }}_cap as winsor_cap,
            caps.{{ y }}_max as max_raw
        from daily
        inner join caps on daily.experiment_id = caps.experiment_id
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

arms as (
    select
        experiment_id,
        variant,
        metric,
        bool_or(is_control) as is_control,
        max(winsor_cap) as winsor_cap,
        max(max_raw) as max_raw
    from long
    group by experiment_id, variant, metric
),

days as (
    select
        experiment_id,
        {{ each_day('min(exposure_date)', 'max(exposure_date)') }} as analysis_date
    from daily
    group by experiment_id
),

grid as (
    select
        arms.experiment_id,
        arms.variant,
        arms.metric,
        arms.is_control,
        arms.winsor_cap,
        arms.max_raw,
        days.analysis_date
    from arms
    inner join days on arms.experiment_id = days.experiment_id
)

select
    grid.experiment_id,
    grid.variant,
    grid.is_control,
    grid.metric,
    grid.analysis_date,
    cast(sum(coalesce(long.n_units, 0)) over ({{ cumulative }}) as bigint) as n_units,
    cast(sum(coalesce(long.n, 0)) over ({{ cumulative }}) as bigint) as n,
    sum(coalesce(long.sum_y, 0)) over ({{ cumulative }}) as sum_y,
    sum(coalesce(long.sum_yy, 0)) over ({{ cumulative }}) as sum_yy,
    sum(long.sum_x) over ({{ cumulative }}) as sum_x,
    sum(long.sum_xx) over ({{ cumulative }}) as sum_xx,
    sum(long.sum_xy) over ({{ cumulative }}) as sum_xy,
    grid.winsor_cap,
    grid.max_raw
from grid
left join long
    on
        grid.experiment_id = long.experiment_id
        and grid.variant = long.variant
        and grid.metric = long.metric
        and grid.analysis_date = long.exposure_date
