#!/usr/bin/env python3
"""The picks CDK app: ``cdk synth`` / ``cdk deploy`` (through cdk.json) or ``python app.py``.

Synthesis makes no AWS calls and needs no Docker; it runs pip for the Lambda dependencies layer unless
``-c picks:offlineDependencies=true`` (docs/deploy.md). Without ``CDK_DEFAULT_ACCOUNT``/``CDK_DEFAULT_REGION``
(set by the CDK CLI from your credentials) the stack is environment-agnostic.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infrastructure import constants
from infrastructure.options import DeploymentOptions, base_context
from infrastructure.stacks.picks_stack import PicksStack

if TYPE_CHECKING:
    from collections.abc import Mapping


def build(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None
) -> tuple[cdk.App, PicksStack]:
    """The app and its stack; ``context`` overrides cdk.json's (the tests pass the offline flag)."""
    app = cdk.App(context=base_context(context), outdir=outdir)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    stack = PicksStack(
        app,
        constants.STACK_ID,
        options=DeploymentOptions.from_context(app),
        env=cdk.Environment(account=account, region=region) if account and region else None,
    )
    # Any unacknowledged AwsSolutions finding interrupts synthesis.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    # The CLI names the output folder (CDK_OUTDIR); run directly, write to ./cdk.out like `cdk synth`
    # rather than to a fresh temporary folder.
    outdir = None if os.environ.get("CDK_OUTDIR") else str(constants.REPO_ROOT / "cdk.out")
    app, _ = build(outdir=outdir)
    app.synth()


if __name__ == "__main__":
    main()
