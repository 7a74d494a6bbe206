"""One synthesized app per environment for the whole run: building it costs seconds, not tests.

The apps are built exactly as `app.py` builds them (cdk.json context, `infra.deployment.build`),
with two test-only speed-ups that change no template: assets are fingerprinted but not copied
(`aws:cdk:disable-asset-staging`), and CDK's built-in template validation is off (cfn-lint runs
on every template instead, in test_cfn_lint.py). No AWS credentials are set anywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before the first aws_cdk import starts the jsii kernel: Node 20 still runs it, just warns.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from infra.config import DeploymentConfig, load_config
from infra.deployment import Deployment, build

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "prod")


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """cdk.json's context plus overrides (e.g. `env="prod"`)."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context | overrides


def new_app(outdir: Path, **context: Any) -> App:
    """An App like the CLI's, with the test-only speed-ups described above."""
    return App(
        context=cdk_context(**context) | {"aws:cdk:disable-asset-staging": True},
        outdir=str(outdir),
        builtin_cloud_formation_validation=False,
        stack_traces=False,
    )


@dataclass(frozen=True)
class Synthesized:
    """One environment's app, its stacks and their synthesized templates."""

    config: DeploymentConfig
    app: App
    deployment: Deployment
    outdir: Path

    def template(self, stack: Stack) -> Template:
        """The stack's template as synthesized (the assembly is cached: no second synth)."""
        return Template.from_stack(stack)

    def template_json(self, stack: Stack) -> dict[str, Any]:
        """The stack's template as raw JSON."""
        path = self.outdir / f"{stack.artifact_id}.template.json"
        template: dict[str, Any] = json.loads(path.read_text())
        return template

    def resources(self, stack: Stack, resource_type: str) -> dict[str, dict[str, Any]]:
        """Every resource of `resource_type` in the stack, by logical id."""
        return {
            logical_id: resource
            for logical_id, resource in self.template_json(stack)["Resources"].items()
            if resource["Type"] == resource_type
        }

    def resolve(self, stack: Stack, value: Any) -> Any:
        """A token as it appears in `stack`'s template (cross-stack references included)."""
        return stack.resolve(value)


def _synthesize(environment: str, outdir: Path) -> Synthesized:
    app = new_app(outdir, env=environment)
    config = load_config(app.node)
    deployment = build(app, config)
    app.synth()
    return Synthesized(config=config, app=app, deployment=deployment, outdir=outdir)


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Synthesized]]:
    """Both environments of cdk.json, each built and synthesized once."""
    yield {name: _synthesize(name, tmp_path_factory.mktemp(f"cdk-{name}")) for name in ENVIRONMENTS}


@pytest.fixture(scope="session")
def dev(apps: dict[str, Synthesized]) -> Synthesized:
    """The dev environment (cdk.json's default)."""
    return apps["dev"]


@pytest.fixture(scope="session")
def prod(apps: dict[str, Synthesized]) -> Synthesized:
    """The prod environment (a fixed account and zones, data retained)."""
    return apps["prod"]


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def each(request: pytest.FixtureRequest, apps: dict[str, Synthesized]) -> Synthesized:
    """Each environment in turn."""
    return apps[request.param]
