"""Per-environment deployment settings, read from cdk.json context and validated up front.

cdk.json holds `om:environments` (one entry per environment) and `om:environment` (the default);
`cdk synth -c env=prod` picks another. Every problem is reported at once, each with the context
path of the bad value, before any construct is built. `-c ingressCidrs=a/32,b/24` overrides the
selected environment's ingress CIDRs without editing cdk.json.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from constructs import Node

ENVIRONMENTS_KEY = "om:environments"
DEFAULT_ENVIRONMENT_KEY = "om:environment"
SELECT_KEY = "env"
INGRESS_OVERRIDE_KEY = "ingressCidrs"

# Fargate task sizes: CPU units → the memory sizes (MiB) AWS accepts with them.
FARGATE_MEMORY_MIB: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_CERTIFICATE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")


class ConfigError(ValueError):
    """The cdk.json configuration of an environment is missing or invalid."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiConfig:
    """Size and scaling of the API's Fargate service."""

    cpu: int
    memory_mib: int
    desired_count: int
    min_count: int
    max_count: int
    target_cpu_percent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoaderConfig:
    """Size and limits of one loader job on Batch Fargate."""

    cpu: int
    memory_mib: int
    ephemeral_storage_gib: int
    timeout_minutes: int
    max_vcpus: int
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentConfig:
    """Everything that differs between environments."""

    name: str
    account: str | None
    region: str
    availability_zones: tuple[str, ...] | None
    ingress_cidrs: tuple[str, ...]
    certificate_arn: str | None
    api: ApiConfig
    loader: LoaderConfig
    upload_expiry_days: int
    report_expiry_days: int
    log_retention_days: int
    log_level: str

    @property
    def is_dev(self) -> bool:
        """Dev data is disposable: no deletion protection, destroyed with the stack."""
        return self.name == "dev"

    @property
    def stack_prefix(self) -> str:
        """Prefix of every stack id of this environment: `OrderManagement-<name>`."""
        return f"OrderManagement-{self.name}"


def load_config(node: Node) -> DeploymentConfig:
    """The configuration of the environment selected by `-c env=NAME` (else the default)."""
    environments = node.try_get_context(ENVIRONMENTS_KEY)
    if not isinstance(environments, Mapping) or not environments:
        raise ConfigError(f"cdk.json context has no {ENVIRONMENTS_KEY!r} object of environments")
    name = node.try_get_context(SELECT_KEY) or node.try_get_context(DEFAULT_ENVIRONMENT_KEY)
    if not isinstance(name, str) or name not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(f"unknown environment {name!r}: choose one of {known} with -c env=NAME")
    raw = dict(environments[name])
    override = node.try_get_context(INGRESS_OVERRIDE_KEY)
    if override is not None:
        raw["ingressCidrs"] = _split_cidrs(override)
    return parse_environment(name, raw)


def parse_environment(name: str, raw: Mapping[str, Any]) -> DeploymentConfig:
    """Validate one environment's JSON object; `ConfigError` lists every problem found."""
    reader = _Reader(f"{ENVIRONMENTS_KEY}.{name}", raw)
    if not _NAME.match(name):
        reader.problem("", f"environment name {name!r} must match {_NAME.pattern}")
    account = reader.optional_str("account", _ACCOUNT, "a 12-digit AWS account id")
    # Required even for an account-agnostic environment: load balancer access logs are
    # delivered by a regional principal that must be known at synth.
    region = reader.optional_str("region", _REGION, "an AWS region such as eu-west-1")
    if region is None and "region" not in raw:
        reader.problem("region", "is required (an AWS region such as eu-west-1)")
    zones = reader.optional_str_list("availabilityZones")
    if account is not None and zones is None:
        reader.problem(
            "availabilityZones",
            "is required when an account is given (at least two of the region's zones), "
            "so synth needs no lookup",
        )
    if zones is not None:
        if len(zones) < 2 or len(set(zones)) != len(zones):
            reader.problem("availabilityZones", "must name at least two distinct zones")
        if region is not None and any(not zone.startswith(region) for zone in zones):
            reader.problem("availabilityZones", f"must all be zones of {region}")
    if zones is not None and account is None:
        reader.problem("availabilityZones", "only applies with an account and region")
    cidrs = reader.cidrs("ingressCidrs")
    certificate = reader.optional_str("certificateArn", _CERTIFICATE, "an ACM certificate ARN")
    api = reader.section("api")
    loader = reader.section("loader")
    config = DeploymentConfig(
        name=name,
        account=account,
        region=region or "",
        availability_zones=tuple(zones) if zones else None,
        ingress_cidrs=cidrs,
        certificate_arn=certificate,
        api=ApiConfig(
            cpu=api.fargate_cpu("cpu"),
            memory_mib=api.integer("memoryMiB", 512, 122880),
            desired_count=api.integer("desiredCount", 1, 100),
            min_count=api.integer("minCount", 1, 100),
            max_count=api.integer("maxCount", 1, 100),
            target_cpu_percent=api.integer("targetCpuPercent", 10, 90),
        ),
        loader=LoaderConfig(
            cpu=loader.fargate_cpu("cpu"),
            memory_mib=loader.integer("memoryMiB", 512, 122880),
            ephemeral_storage_gib=loader.integer("ephemeralStorageGiB", 21, 200),
            timeout_minutes=loader.integer("timeoutMinutes", 15, 14 * 24 * 60),
            max_vcpus=loader.integer("maxVcpus", 1, 4096),
            attempts=loader.integer("attempts", 1, 10),
        ),
        upload_expiry_days=reader.integer("uploadExpiryDays", 1, 3650),
        report_expiry_days=reader.integer("reportExpiryDays", 1, 3650),
        log_retention_days=reader.choice("logRetentionDays", LOG_RETENTION_DAYS),
        log_level=reader.choice("logLevel", LOG_LEVELS),
    )
    for section, size in (("api", config.api), ("loader", config.loader)):
        if size.memory_mib not in FARGATE_MEMORY_MIB.get(size.cpu, ()):
            allowed = FARGATE_MEMORY_MIB.get(size.cpu, ())
            reader.problem(
                f"{section}.memoryMiB",
                f"{size.memory_mib} is not a Fargate memory size for {size.cpu} CPU units "
                f"({allowed[0]}–{allowed[-1]} in steps of {allowed[1] - allowed[0]})"
                if len(allowed) > 1
                else "does not match the CPU size",
            )
    if not config.api.min_count <= config.api.desired_count <= config.api.max_count:
        reader.problem("api", "needs minCount ≤ desiredCount ≤ maxCount")
    if config.loader.max_vcpus * 1024 < config.loader.cpu:
        reader.problem("loader.maxVcpus", "is smaller than one job's cpu")
    reader.raise_problems()
    return config


def _split_cidrs(value: object) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(part) for part in value]
    raise ConfigError(f"-c {INGRESS_OVERRIDE_KEY} must be a comma-separated list of CIDRs")


class _Reader:
    """Reads typed values from one JSON object, collecting problems with their context paths."""

    def __init__(self, path: str, raw: Mapping[str, Any], problems: list[str] | None = None):
        self._path = path
        self._raw = raw
        self._problems: list[str] = [] if problems is None else problems

    def problem(self, key: str, message: str) -> None:
        where = f"{self._path}.{key}" if key else self._path
        self._problems.append(f"{where}: {message}")

    def raise_problems(self) -> None:
        if self._problems:
            raise ConfigError("invalid cdk.json configuration:\n  " + "\n  ".join(self._problems))

    def section(self, key: str) -> _Reader:
        value = self._raw.get(key)
        if not isinstance(value, Mapping):
            self.problem(key, "must be an object")
            value = {}
        return _Reader(f"{self._path}.{key}", value, self._problems)

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(key, f"must be an integer from {low} to {high}, not {value!r}")
            return low
        return value

    def fargate_cpu(self, key: str) -> int:
        cpu: int = self.choice(key, tuple(FARGATE_MEMORY_MIB))
        return cpu

    def choice(self, key: str, allowed: Sequence[Any]) -> Any:
        value = self._raw.get(key)
        if value not in allowed or isinstance(value, bool):
            self.problem(key, f"must be one of {', '.join(map(str, allowed))}, not {value!r}")
            return allowed[0]
        return value

    def optional_str(self, key: str, pattern: re.Pattern[str], meaning: str) -> str | None:
        value = self._raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not pattern.match(value):
            self.problem(key, f"must be {meaning}, not {value!r}")
            return None
        return value

    def optional_str_list(self, key: str) -> list[str] | None:
        value = self._raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.problem(key, "must be a list of strings")
            return None
        return list(value)

    def cidrs(self, key: str) -> tuple[str, ...]:
        value = self._raw.get(key)
        if not isinstance(value, list) or not value:
            self.problem(key, "must list at least one CIDR allowed to reach the load balancer")
            return ()
        cidrs: list[str] = []
        for item in value:
            try:
                network = ipaddress.ip_network(str(item), strict=True)
            except ValueError as error:
                self.problem(key, f"{item!r} is not a CIDR ({error})")
                continue
            if network.prefixlen == 0:
                self.problem(key, f"{item!r} opens the API to the whole internet; list your CIDRs")
                continue
            cidrs.append(str(network))
        return tuple(cidrs)
