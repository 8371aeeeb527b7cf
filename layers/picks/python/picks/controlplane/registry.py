"""The operation registry: each operation module registers its functions by operation name.

Only the registry lives here, so the operation modules can import it without importing one
another; ``picks.controlplane.dispatch`` imports them all and runs the operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from picks.services import Services

SERVICE = "personalize"
Operation = Callable[[Services, dict[str, Any]], dict[str, Any] | None]
OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(func: Operation) -> Operation:
        OPERATIONS[name] = func
        return func

    return register
