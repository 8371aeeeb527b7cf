"""Names, paths, sizes and context keys of the picks CDK app, in one place."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
LAYER_DIR = REPO_ROOT / "layers" / "picks"  # holds python/picks (first party) and requirements.txt
LAYER_REQUIREMENTS = LAYER_DIR / "requirements.txt"
CDK_JSON = REPO_ROOT / "cdk.json"

STACK_ID = "Picks"
SERVICE_NAME = "picks"
METRICS_NAMESPACE = "picks"
API_STAGE = "v1"

# Context keys (``cdk synth -c key=value``; defaults live in cdk.json).
CONTEXT_OFFLINE_DEPENDENCIES = "picks:offlineDependencies"
CONTEXT_LOG_LEVEL = "picks:logLevel"
DEFAULT_LOG_LEVEL = "INFO"

# The numpy pinned in requirements.txt ships manylinux_2_27/2_28 wheels only; Lambda's python3.11
# runtime is Amazon Linux 2 (glibc 2.26), python3.12 is Amazon Linux 2023 (glibc 2.34).
LAMBDA_PYTHON_VERSION = "3.12"
# pip's --platform values for the bundled wheels: newest first, older tags for pure-ish wheels.
LAMBDA_WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")

# Which functions get what beyond the defaults (read/write on the table and the data bucket).
# Keys are picks.routes.FUNCTIONS names; the stack rejects unknown ones at synth time.
READ_ONLY_FUNCTIONS = frozenset({"runtime"})  # serving reads models and resources, never writes
WORKFLOW_STARTERS = frozenset({"control_plane", "s3_drop"})  # states:StartExecution + PICKS_WORKFLOWS
IMPORT_SOURCE_READERS = frozenset({"workflow_steps"})  # reads s3://<user bucket>/... named in imports

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_MAX_ID_LENGTH = 64


def construct_id(*parts: str) -> str:
    """A PascalCase construct id from declaration names: ``("control_plane", "Fn")`` -> ``ControlPlaneFn``.

    CloudFormation logical ids are alphanumeric and at most 255 characters, but resource names derived
    from them (log groups, roles) are shorter; 64 keeps every derived name within limits.
    """
    words = [w for part in parts for w in _NON_ALNUM.split(part) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name:
        raise ValueError(f"no usable characters in {parts!r}")
    if len(name) > _MAX_ID_LENGTH:
        raise ValueError(f"construct id {name!r} is longer than {_MAX_ID_LENGTH} characters")
    return name
