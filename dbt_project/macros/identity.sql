{#- contact_id: sha256 hex of lower(trim(email)); null when the address is not a plausible email. -#}
{% macro contact_id_from_email(email_column) -%}
    case
        when {{ regex_matches('lower(trim(' ~ email_column ~ '))', '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$') }}
            then {{ sha256_hex('lower(trim(' ~ email_column ~ '))') }}
    end
{%- endmacro %}
