"""cdk-nag's AwsSolutions pack: no unacknowledged finding, every acknowledgement explained.

cdk-nag 3.x is a CDK policy-validation plugin; `validate_scope` runs the same checks `app.py`
registers for `cdk synth`, on the apps synthesized once for the whole run. Its DDB3 rule
(point-in-time recovery) does not inspect TableV2, so test_data.py asserts PITR directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk import Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from tests.infra.conftest import new_app

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

ACKNOWLEDGED = Validations.ACKNOWLEDGED_RULES_METADATA_KEY


def _violations(app: Synthesized) -> list[str]:
    report = AwsSolutionsChecks().validate_scope(app.app)
    return [
        f"{violation.rule_name} at {[r.construct_path for r in violation.violating_resources]}: "
        f"{violation.description}"
        for violation in report.violations
    ]


def test_aws_solutions_finds_nothing_unacknowledged(each: Synthesized) -> None:
    assert _violations(each) == []


def _acknowledgements(app: Synthesized) -> dict[str, str]:
    found: dict[str, str] = {}
    for construct in app.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACKNOWLEDGED and isinstance(entry.data, dict):
                for rule, reason in entry.data.items():
                    # CDK acknowledges some of its own CloudFormation-Validate warnings; ours are
                    # the AwsSolutions ones.
                    if "AwsSolutions-" in rule:
                        found[f"{construct.node.path} {rule}"] = str(reason)
    return found


def test_every_acknowledgement_names_a_specific_rule_with_a_reason(each: Synthesized) -> None:
    acknowledgements = _acknowledgements(each)
    assert acknowledgements, "expected the acknowledgements infra/ makes"
    for where, reason in acknowledgements.items():
        rule = where.split(" ", 1)[1].split("::", 1)[-1]
        assert rule.startswith("AwsSolutions-"), where
        # A whole rule is acknowledged only where the rule has no per-finding ids.
        assert "[" in rule or rule.split("-")[1] in {"S1", "ECS2", "SQS3", "SF2"}, where
        assert len(reason) >= 60 and reason.endswith("."), f"{where}: {reason!r}"


def test_wildcard_acknowledgements_name_their_exact_resource(each: Synthesized) -> None:
    wildcards = [w for w in _acknowledgements(each) if "IAM5[Resource::" in w]
    prefixes = {w.split("IAM5[Resource::")[1] for w in wildcards}
    assert any(p.endswith("/uploads/*]") for p in prefixes)
    assert any(p.endswith("/reports/*]") for p in prefixes)
    assert all(p == "*]" or p.endswith("/*]") for p in prefixes)


def test_the_plugin_app_py_registers_fails_synth_on_a_finding(tmp_path: Path) -> None:
    app = new_app(tmp_path)
    stack = Stack(app, "Bare")
    s3.Bucket(stack, "Unlogged")  # no TLS enforcement, no access logs: AwsSolutions-S1, S10
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match=r"AwsSolutions-S10"):
        app.synth()


def _rule_ids(report: Any) -> set[str]:
    return {violation.rule_name for violation in report.violations}


def test_an_acknowledgement_silences_only_its_own_finding(tmp_path: Path) -> None:
    app = new_app(tmp_path)
    stack = Stack(app, "Bare")
    bucket = s3.Bucket(stack, "Unlogged", enforce_ssl=True)
    checks = AwsSolutionsChecks()
    assert "AwsSolutions-S1" in _rule_ids(checks.validate_scope(app))
    from infra import nag

    nag.acknowledge(bucket, "S1", "A bucket in a test that checks acknowledgements work at all.")
    assert "AwsSolutions-S1" not in _rule_ids(checks.validate_scope(app))
