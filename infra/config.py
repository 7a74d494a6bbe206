"""Per-environment deployment settings, read from cdk.json context and validated up front.

cdk.json holds `om:environments` (one entry per environment) and `om:environment` (the default);
`cdk synth -c env=prod` picks another. Every problem is reported at once, each with the context
path of the bad value, before any construct is built. `-c ingressCidrs=a/32,b/24` overrides the
selected environment's ingress CIDRs without editing cdk.json.

Optional sections (`waf`, `alarms`) and their keys fall back to the defaults below; a section or
key that is present must be valid.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from constructs import Node

ENVIRONMENTS_KEY = "om:environments"
DEFAULT_ENVIRONMENT_KEY = "om:environment"
SELECT_KEY = "env"
# The one disposable environment: plain HTTP allowed, data destroyed with the stacks.
DEV_ENVIRONMENT = "dev"
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
_CERTIFICATE = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):certificate/[A-Za-z0-9-]+$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HTTPS_URL = re.compile(r"^https://[^\s/]+\S*$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
# What each alarm subscription protocol's endpoint must look like (SNS delivers to these).
SUBSCRIPTION_ENDPOINTS: Mapping[str, tuple[re.Pattern[str], str]] = {
    "email": (_EMAIL, "an email address"),
    "https": (_HTTPS_URL, "an https:// URL"),
    "sms": (_PHONE, "a phone number in E.164 form (+15555550100)"),
}

# AWS WAF rate-based rules: requests per client IP per evaluation window.
WAF_RATE_LIMIT_RANGE = (10, 2_000_000_000)
WAF_EVALUATION_WINDOWS_SECONDS = (60, 120, 300, 600)
# 6,000 per 5 minutes is a sustained 20 requests/s from one address: far above an interactive
# client, within reach of a busy trading client behind one NAT address (raise it for those).
DEFAULT_WAF_RATE_LIMIT = 6_000
DEFAULT_WAF_WINDOW_SECONDS = 300

WAF_KEYS = ("rateLimit", "rateLimitWindowSeconds")
ALARMS_KEYS = (
    "subscriptions",
    "api5xxPercent",
    "apiP99LatencyMs",
    "storeThrottleEvents",
    "failedLoads",
)
DEFAULT_API_5XX_PERCENT = 1.0
DEFAULT_API_P99_LATENCY_MS = 1_000
DEFAULT_STORE_THROTTLE_EVENTS = 50
DEFAULT_FAILED_LOADS = 1


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
class FirewallConfig:
    """The web ACL's per-client-IP rate limit."""

    rate_limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmSubscription:
    """One subscriber to the alarm topic: an SNS protocol and its endpoint."""

    protocol: str
    endpoint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmsConfig:
    """Who hears about alarms, and the thresholds an operator tunes."""

    subscriptions: tuple[AlarmSubscription, ...]
    api_5xx_percent: float
    api_p99_latency_ms: int
    store_throttle_events: int
    failed_loads: int


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
    waf: FirewallConfig
    alarms: AlarmsConfig
    upload_expiry_days: int
    report_expiry_days: int
    log_retention_days: int
    log_level: str

    @property
    def is_dev(self) -> bool:
        """Dev data is disposable: no deletion protection, destroyed with the stack."""
        return self.name == DEV_ENVIRONMENT

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
    certificate = reader.certificate("certificateArn", region=region, account=account)
    if raw.get("certificateArn") is None and name != DEV_ENVIRONMENT:
        reader.problem(
            "certificateArn",
            "is required outside dev: the API is served over HTTPS only (an ACM certificate "
            "ARN in the environment's region; HTTP is redirected to HTTPS)",
        )
    api = reader.section("api")
    loader = reader.section("loader")
    waf = reader.optional_section("waf", WAF_KEYS)
    alarms = reader.optional_section("alarms", ALARMS_KEYS)
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
        waf=FirewallConfig(
            rate_limit=waf.integer(
                "rateLimit", *WAF_RATE_LIMIT_RANGE, default=DEFAULT_WAF_RATE_LIMIT
            ),
            window_seconds=waf.choice(
                "rateLimitWindowSeconds",
                WAF_EVALUATION_WINDOWS_SECONDS,
                default=DEFAULT_WAF_WINDOW_SECONDS,
            ),
        ),
        alarms=AlarmsConfig(
            subscriptions=alarms.subscriptions("subscriptions"),
            api_5xx_percent=alarms.number(
                "api5xxPercent", 0.1, 100, default=DEFAULT_API_5XX_PERCENT
            ),
            api_p99_latency_ms=alarms.integer(
                "apiP99LatencyMs", 10, 60_000, default=DEFAULT_API_P99_LATENCY_MS
            ),
            store_throttle_events=alarms.integer(
                "storeThrottleEvents", 1, 1_000_000, default=DEFAULT_STORE_THROTTLE_EVENTS
            ),
            failed_loads=alarms.integer("failedLoads", 1, 10_000, default=DEFAULT_FAILED_LOADS),
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

    def optional_section(self, key: str, known: Collection[str]) -> _Reader:
        """The section, or an empty one (every key at its default) when it is absent.

        Its keys all have defaults, so a misspelt one would silently be a default: unknown keys
        are problems.
        """
        if key not in self._raw:
            return _Reader(f"{self._path}.{key}", {}, self._problems)
        section = self.section(key)
        for unknown in sorted(set(section._raw) - set(known)):
            section.problem(unknown, f"is not a setting (known: {', '.join(known)})")
        return section

    def integer(self, key: str, low: int, high: int, *, default: int | None = None) -> int:
        if default is not None and key not in self._raw:
            return default
        value = self._raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(key, f"must be an integer from {low} to {high}, not {value!r}")
            return low
        return value

    def number(self, key: str, low: float, high: float, *, default: float) -> float:
        if key not in self._raw:
            return default
        value = self._raw.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            self.problem(key, f"must be a number from {low:g} to {high:g}, not {value!r}")
            return low
        return float(value)

    def fargate_cpu(self, key: str) -> int:
        cpu: int = self.choice(key, tuple(FARGATE_MEMORY_MIB))
        return cpu

    def choice(self, key: str, allowed: Sequence[Any], *, default: Any = None) -> Any:
        if default is not None and key not in self._raw:
            return default
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

    def certificate(self, key: str, *, region: str | None, account: str | None) -> str | None:
        """An ACM certificate ARN usable by this environment's load balancer."""
        value = self.optional_str(key, _CERTIFICATE, "an ACM certificate ARN")
        match = _CERTIFICATE.match(value) if value else None
        if value is None or match is None:
            return None
        # A load balancer takes certificates from ACM in its own region and account only.
        if region is not None and match["region"] != region:
            self.problem(key, f"must be a certificate in {region}, not {match['region']}")
            return None
        if account is not None and match["account"] != account:
            self.problem(key, f"must be a certificate of account {account}, not {match['account']}")
            return None
        return value

    def subscriptions(self, key: str) -> tuple[AlarmSubscription, ...]:
        """`[{"protocol": ..., "endpoint": ...}]`; empty (or absent) means nobody is notified."""
        value = self._raw.get(key, [])
        if not isinstance(value, list):
            self.problem(key, 'must be a list of {"protocol", "endpoint"} objects')
            return ()
        found: list[AlarmSubscription] = []
        for index, item in enumerate(value):
            where = f"{key}[{index}]"
            if not isinstance(item, Mapping) or set(item) != {"protocol", "endpoint"}:
                self.problem(where, 'must be an object with exactly "protocol" and "endpoint"')
                continue
            protocol, endpoint = item["protocol"], item["endpoint"]
            if protocol not in SUBSCRIPTION_ENDPOINTS:
                self.problem(
                    f"{where}.protocol",
                    f"must be one of {', '.join(SUBSCRIPTION_ENDPOINTS)}, not {protocol!r}",
                )
                continue
            pattern, meaning = SUBSCRIPTION_ENDPOINTS[protocol]
            if not isinstance(endpoint, str) or not pattern.match(endpoint):
                self.problem(f"{where}.endpoint", f"must be {meaning}, not {endpoint!r}")
                continue
            found.append(AlarmSubscription(protocol=protocol, endpoint=endpoint))
        if len(set(found)) != len(found):
            self.problem(key, "lists the same subscription twice")
        return tuple(found)

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
