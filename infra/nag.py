"""Acknowledging cdk-nag (3.x) findings: every one with a reason, none by a hard-coded logical id.

cdk-nag 3 is a CDK policy-validation plugin: a finding is acknowledged with
`Validations.of(scope).acknowledge(id=..., reason=...)` on the resource or any ancestor. Findings
about a policy's wildcard resources carry the resource flattened as cdk-nag prints it
(`Resource::<Bucket1234.Arn>/uploads/*`); `acknowledge_wildcard_resources` computes that string from
the construct's own tokens, so no logical id is written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct, IValidation

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge `AwsSolutions-<rule>` (optionally `RULE[finding]`) on `scope` and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}-{rule}", reason=reason))


def acknowledge_wildcard_resources(
    scope: IConstruct, resources: Iterable[str], reason: str
) -> None:
    """Acknowledge IAM5 for each of `resources` (ARNs ending in a wildcard) granted under scope.

    A resource from another stack only becomes its final `Fn::ImportValue` once synthesis has
    resolved cross-stack references, so the finding id is computed then: in a construct
    validation, which CDK runs after resolving references and before validation plugins.
    """
    scope.node.add_validation(_WildcardAcknowledgement(scope, tuple(resources), reason))


@jsii.implements(IValidation)
class _WildcardAcknowledgement:
    def __init__(self, scope: IConstruct, resources: tuple[str, ...], reason: str) -> None:
        self._scope = scope
        self._resources = resources
        self._reason = reason

    def validate(self) -> list[str]:
        stack = Stack.of(self._scope)
        for resource in self._resources:
            flat = flatten_cfn_reference(stack.resolve(resource))
            acknowledge(self._scope, f"IAM5[Resource::{flat}]", self._reason)
        return []


def flatten_cfn_reference(node: Any) -> str:
    """A resolved CloudFormation value as cdk-nag's `flattenCfnReference` prints it."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_cfn_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_cfn_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))
