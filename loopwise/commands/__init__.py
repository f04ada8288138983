"""Subcommands of the ``loopwise`` console script.

Each module exposes ``register(subparsers)``, which adds its parser and sets
``func(args) -> int`` as the handler. Modules import their engines lazily inside the
handler so ``loopwise --help`` stays fast.
"""

COMMAND_MODULES = (
    "loopwise.commands.demo",
    "loopwise.commands.experiments",
    "loopwise.commands.budget",
    "loopwise.commands.anomalies",
    "loopwise.commands.actions",
    "loopwise.commands.simulate",
    "loopwise.commands.scores",
)
