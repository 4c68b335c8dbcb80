"""Run a service's main coroutine on uvloop.

Every service is CPU-bound per process under load, and the default asyncio loop's Python selector
and transports were a measured share of it (py-spy: socket writes and reader registrations for
each psycopg round trip and each broker frame). uvloop runs the same asyncio API in C.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a uvloop event loop."""
    return uvloop.run(main)
