{#-
    Meta's currency offset: how many of Meta's minor units make one major unit of `currency`.
    Meta sends budgets as integer strings in these units (100 for most currencies, 1 for those
    without a minor unit in Meta's table). Null when the currency is unknown, so a budget in an
    unknown currency stays unknown rather than off by a factor of 100.
-#}
{% macro meta_currency_offset(currency) -%}
    {%- set offset_one = ['CLP', 'COP', 'CRC', 'HUF', 'ISK', 'IDR', 'JPY', 'KRW', 'PYG', 'TWD', 'VND'] -%}
    case
        when {{ currency }} is null then null
        when upper({{ currency }}) in ('{{ offset_one | join("', '") }}') then 1
        else 100
    end
{%- endmacro %}
