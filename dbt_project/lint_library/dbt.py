"""dbt's cross-database macros for sqlfluff's jinja templater (``make lint``), in DuckDB's words."""


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"date_add({from_date_or_timestamp}, interval ({interval}) {datepart})"


def type_string():
    return "varchar"
