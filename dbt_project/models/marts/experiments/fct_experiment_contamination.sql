-- Units of each experiment exposed to more than one of its arms (arm_count > 1), which the
-- sufficient statistics leave out, and the exposure rows they account for.
select
    experiment_id,
    count(distinct case when arm_count > 1 then unit_id end) as contaminated_units,
    cast(sum(case when arm_count > 1 then 1 else 0 end) as bigint) as excluded_rows
from {{ ref('fct_experiment_exposures') }}
group by experiment_id
