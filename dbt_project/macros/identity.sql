{#- contact_id: sha256 hex of lower(trim(email)); null when the address is not a plausible email. -#}
{% macro contact_id_from_email(email_column) -%}
    case
        when regexp_matches(lower(trim({{ email_column }})), '^[^@\s]+@[^@\s]+\.[^@\s]+$')
            then sha256(lower(trim({{ email_column }})))
    end
{%- endmacro %}
