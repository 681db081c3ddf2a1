"""The Executor: routes each client's command to its family's handler.

- ``actor``: the actor — inbox, at-most-once replies, parse and route;
- ``routes``: one line per command, command type → handler;
- ``trackers``, ``workspace_ops``, ``consent``, ``admin``: one handler module per
  command family;
- ``healing``: retries, circuit breakers and repair through the MAPE-K actors;
- ``stores``: the Store registry, each Store supervised alone;
- ``context``, ``outcomes``, ``settings``: what the handlers share.
"""

from wtd.actors.executor.actor import ANSWERED_KEPT, Executor
from wtd.actors.executor.admin import help_lines
from wtd.actors.executor.healing import circuit_open
from wtd.actors.executor.outcomes import caller
from wtd.actors.executor.settings import Settings
from wtd.actors.executor.stores import STORE_ASKS

__all__ = [
    "ANSWERED_KEPT",
    "STORE_ASKS",
    "Executor",
    "Settings",
    "caller",
    "circuit_open",
    "help_lines",
]
