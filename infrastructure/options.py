"""Deployment options read from CDK context, and the context every synth starts from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infrastructure import constants

if TYPE_CHECKING:
    from collections.abc import Mapping

    from constructs import IConstruct

_TRUE = {"true", "1", "yes", "on"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def base_context(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's ``context`` block updated with ``overrides``.

    The CDK CLI feeds cdk.json's context (feature flags included) to the app, but ``python app.py``
    and the tests do not go through the CLI; starting every ``App`` from this keeps all three
    synthesizing the same template. Context given on the CLI still wins over these defaults.
    """
    document = json.loads(constants.CDK_JSON.read_text(encoding="utf-8"))
    return {**document.get("context", {}), **(overrides or {})}


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)


@dataclass(frozen=True)
class DeploymentOptions:
    """What differs between synths of the same stack (``-c key=value`` on the CDK CLI)."""

    # True: do not run pip; the dependencies layer is a placeholder. For tests and template review,
    # never for a deployment (the stack carries a warning saying so).
    offline_dependencies: bool = False
    log_level: str = constants.DEFAULT_LOG_LEVEL

    def __post_init__(self) -> None:
        if self.log_level not in _LOG_LEVELS:
            raise ValueError(
                f"{constants.CONTEXT_LOG_LEVEL} must be one of {_LOG_LEVELS}, got {self.log_level!r}"
            )

    @classmethod
    def from_context(cls, scope: IConstruct) -> DeploymentOptions:
        node = scope.node
        level = node.try_get_context(constants.CONTEXT_LOG_LEVEL) or constants.DEFAULT_LOG_LEVEL
        return cls(
            offline_dependencies=_flag(node.try_get_context(constants.CONTEXT_OFFLINE_DEPENDENCIES)),
            log_level=str(level).upper(),
        )
