{#- The experiments' metrics (the experiment_metrics var): name, kind (ratio, proportion, mean),
    numerator, the denominator of a ratio, and whether the metric is winsorized. -#}
{% macro experiment_metrics() -%}
    {{ return(var('experiment_metrics')) }}
{%- endmacro %}
