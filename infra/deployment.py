"""Wires one environment's stacks together: each stack gets what it needs as typed props."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Stack, Tags

from infra.compute import ComputeStack
from infra.config import DeploymentConfig
from infra.data import DataStack
from infra.monitoring import MonitoringStack
from infra.network import NetworkStack
from infra.pipeline import PipelineStack
from infra.registry import RegistryStack


@dataclass(frozen=True, slots=True)
class Deployment:
    """The stacks of one environment."""

    network: NetworkStack
    registry: RegistryStack
    data: DataStack
    compute: ComputeStack
    pipeline: PipelineStack
    monitoring: MonitoringStack

    @property
    def stacks(self) -> tuple[Stack, ...]:
        """Every stack, in deployment order."""
        return (
            self.network,
            self.registry,
            self.data,
            self.compute,
            self.pipeline,
            self.monitoring,
        )


def aws_environment(config: DeploymentConfig, app: App) -> Environment:
    """The stacks' environment: the configured region, and the account when one is configured.

    With an account, the configured availability zones are written into the context cache, so
    the VPC never asks AWS which zones exist: synth needs no credentials either way.
    """
    if config.account is None:
        return Environment(region=config.region)
    assert config.availability_zones is not None
    key = f"availability-zones:account={config.account}:region={config.region}"
    app.node.set_context(key, list(config.availability_zones))
    return Environment(account=config.account, region=config.region)


def build(app: App, config: DeploymentConfig) -> Deployment:
    """Create every stack of `config`'s environment in `app`."""
    env = aws_environment(config, app)
    prefix = config.stack_prefix
    network = NetworkStack(app, f"{prefix}-Network", config=config, env=env)
    registry = RegistryStack(app, f"{prefix}-Registry", config=config, env=env)
    data = DataStack(app, f"{prefix}-Data", config=config, env=env)
    compute = ComputeStack(
        app,
        f"{prefix}-Compute",
        config=config,
        vpc=network.vpc,
        app_subnets=network.app_subnets,
        listener=network.listener,
        load_balancer_security_group=network.load_balancer_security_group,
        table=data.table,
        bucket=data.bucket,
        api_image=registry.api.image,
        loader_image=registry.loader.image,
        env=env,
    )
    # The task definitions name image tags that exist only once the registry stack copied them.
    compute.add_stack_dependency(registry, "images are copied into the service repositories first")
    pipeline = PipelineStack(
        app,
        f"{prefix}-Pipeline",
        config=config,
        table=data.table,
        bucket=data.bucket,
        job_queue=compute.loader.queue,
        job_definition=compute.loader.job_definition,
        env=env,
    )
    monitoring = MonitoringStack(
        app,
        f"{prefix}-Monitoring",
        config=config,
        load_balancer=network.load_balancer,
        target_group=compute.api.target_group,
        firewall_metric_name=network.firewall.metric_name,
        table=data.table,
        upload_dead_letters=pipeline.dead_letters,
        job_failed_rule=pipeline.reconciler.rule,
        reconciler=pipeline.reconciler.state_machine,
        reconciler_dead_letters=pipeline.reconciler.dead_letters,
        env=env,
    )
    deployment = Deployment(network, registry, data, compute, pipeline, monitoring)
    for stack in deployment.stacks:
        Tags.of(stack).add("project", "order-management")
        Tags.of(stack).add("environment", config.name)
    return deployment
