"""``adapter`` for sqlfluff's jinja templater (``make lint``), which has no dbt adapter.

A dispatched macro renders as a call of a function of its name with its arguments as text
(``to_utc('created_at')``), which parses as SQL whatever the arguments hold (a column, a JSON
path, a regular expression); dbt itself renders the engine's version (macros/portable.sql).
"""


def dispatch(macro_name, macro_namespace=None):
    def render(*args):
        if macro_name == "column_type":
            return args[0]
        quoted = ("'" + str(arg).replace("'", "''") + "'" for arg in args)
        return f"{macro_name}({', '.join(quoted)})"

    return render


def quote(identifier):
    return f'"{identifier}"'
