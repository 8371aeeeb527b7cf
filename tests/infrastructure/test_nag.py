"""cdk-nag AwsSolutions: no unacknowledged finding, and every acknowledgment explains itself.

cdk-nag 3 is a CDK policy-validation plugin: findings are reported by ``validate_scope`` (and fail
``app.synth()``), not added as construct annotations, and acknowledgments are CDK
``Validations.of(...).acknowledge`` records in construct metadata.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

from app import build
from infrastructure import constants

pytestmark = pytest.mark.infrastructure


@pytest.fixture(scope="module")
def built() -> tuple[Any, Any]:
    return build({constants.CONTEXT_OFFLINE_DEPENDENCIES: "true"})


@pytest.fixture(scope="module")
def report(built: tuple[Any, Any]) -> Any:
    _, stack = built
    return AwsSolutionsChecks().validate_scope(stack)


def _describe(violations: list[Any]) -> list[str]:
    return [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in violations]


def test_no_unacknowledged_errors(report: Any) -> None:
    errors = [v for v in report.violations if v.severity == "error"]
    assert errors == [], _describe(errors)


def test_no_unacknowledged_warnings(report: Any) -> None:
    warnings = [v for v in report.violations if v.severity != "error"]
    assert warnings == [], _describe(warnings)


def test_app_synthesizes_with_the_plugin_registered(built: tuple[Any, Any]) -> None:
    # app.py registers AwsSolutionsChecks on the app: any finding would raise here.
    app, _ = built
    assembly = app.synth()
    assert [s.stack_name for s in assembly.stacks] == [constants.STACK_ID]


def test_every_acknowledgment_has_a_specific_reason(built: tuple[Any, Any]) -> None:
    _, stack = built
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged = {
        (construct.node.path, rule): reason
        for construct in stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == key
        for rule, reason in entry.data.items()
    }

    assert acknowledged, "expected the stack to acknowledge some findings"
    for (path, rule), reason in acknowledged.items():
        assert "AwsSolutions-" in rule, (path, rule)
        assert len(reason) >= 60, (path, rule, reason)  # a sentence, not a placeholder
    # Acknowledgments sit on constructs, never on the whole stack.
    assert all(path != stack.node.path for path, _ in acknowledged)


def test_every_acknowledgment_matches_a_real_finding(built: tuple[Any, Any]) -> None:
    # Given the findings of the same app built without any acknowledgment
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("infrastructure.stacks.picks_stack.acknowledge_nag_findings", lambda stack: None)
        _, bare = build({constants.CONTEXT_OFFLINE_DEPENDENCIES: "true"})
    findings = [
        (v.rule_name, r.construct_path)
        for v in AwsSolutionsChecks().validate_scope(bare).violations
        for r in v.violating_resources
    ]

    # Then each acknowledgment covers at least one of them (none is stale or mistyped)
    _, stack = built
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != key:
                continue
            for rule in entry.data:
                rule_id = re.sub(
                    r"^annotation::", "", rule, flags=re.IGNORECASE
                )  # CDK's prefix for these ids
                prefix = construct.node.path + "/"
                assert any(r == rule_id and p.startswith(prefix) for r, p in findings), (
                    construct.node.path,
                    rule_id,
                )
