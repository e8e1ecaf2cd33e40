"""The embedded default (`make run`): SQLite, in-process real-time delivery, eager tasks.

Debug pages stay off unless a developer asks for them (`make run DEBUG=1`, or
ENCLAVE_DEBUG=true): this mode is how people first try the product, and a debug page lists
every URL pattern and shows tracebacks with settings to whoever opens a wrong address.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("ENCLAVE_DEBUG", default=False)
