"""Per-environment configuration from cdk.json: sensible defaults, every mistake named clearly."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infra.config import (
    DEFAULT_API_5XX_PERCENT,
    DEFAULT_API_P99_LATENCY_MS,
    DEFAULT_FAILED_LOADS,
    DEFAULT_STORE_THROTTLE_EVENTS,
    DEFAULT_WAF_RATE_LIMIT,
    DEFAULT_WAF_WINDOW_SECONDS,
    ConfigError,
    load_config,
    parse_environment,
)
from tests.infra.conftest import cdk_context, new_app


def _dev() -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(cdk_context()["om:environments"]["dev"])
    return raw


def _problems(raw: dict[str, Any], name: str = "dev") -> str:
    with pytest.raises(ConfigError) as caught:
        parse_environment(name, raw)
    return str(caught.value)


def test_dev_is_the_default_and_is_disposable(tmp_path: Path) -> None:
    config = load_config(new_app(tmp_path).node)
    assert config.name == "dev" and config.is_dev
    assert config.account is None  # deploys to whatever account the CLI's credentials name
    assert config.api.min_count <= config.api.desired_count <= config.api.max_count


def test_prod_is_selected_with_env_and_pins_account_region_and_zones(tmp_path: Path) -> None:
    config = load_config(new_app(tmp_path, env="prod").node)
    assert not config.is_dev
    assert config.account and config.region and config.availability_zones


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown environment 'qa': choose one of dev, prod"):
        load_config(new_app(tmp_path, env="qa").node)


def test_ingress_cidrs_can_be_overridden_on_the_command_line(tmp_path: Path) -> None:
    app = new_app(tmp_path, ingressCidrs="198.51.100.7/32, 2001:db8::/48")
    assert load_config(app.node).ingress_cidrs == ("198.51.100.7/32", "2001:db8::/48")


@pytest.mark.parametrize(
    ("cidrs", "message"),
    [
        ([], "ingressCidrs: must list at least one CIDR"),
        (["0.0.0.0/0"], "opens the API to the whole internet"),
        (["::/0"], "opens the API to the whole internet"),
        (["10.0.0.1/8"], "'10.0.0.1/8' is not a CIDR"),
        (["localhost"], "'localhost' is not a CIDR"),
    ],
)
def test_ingress_must_be_limited_to_real_cidrs(cidrs: list[str], message: str) -> None:
    raw = _dev() | {"ingressCidrs": cidrs}
    assert message in _problems(raw)


def test_fargate_sizes_are_checked_against_what_aws_accepts() -> None:
    raw = _dev()
    raw["api"]["cpu"] = 300
    raw["loader"]["memoryMiB"] = 1000
    problems = _problems(raw)
    assert "om:environments.dev.api.cpu: must be one of 256, 512" in problems
    assert (
        "om:environments.dev.loader.memoryMiB: 1000 is not a Fargate memory size for 2048"
        in problems
    )


def test_task_counts_must_be_ordered() -> None:
    raw = _dev()
    raw["api"] |= {"minCount": 3, "desiredCount": 2, "maxCount": 4}
    assert "needs minCount ≤ desiredCount ≤ maxCount" in _problems(raw)


def test_a_fixed_account_needs_zones_so_synth_needs_no_lookup() -> None:
    raw = _dev() | {"account": "123456789012"}
    assert "availabilityZones: is required when an account is given" in _problems(raw)
    raw |= {"availabilityZones": ["us-east-1a", "eu-west-1b"]}
    assert "must all be zones of us-east-1" in _problems(raw)


def test_region_is_required() -> None:
    raw = _dev()
    del raw["region"]
    assert "region: is required" in _problems(raw)


def test_every_problem_is_reported_at_once() -> None:
    raw = _dev() | {"account": "12345", "logRetentionDays": 10, "uploadExpiryDays": 0}
    raw["loader"]["ephemeralStorageGiB"] = 500
    problems = _problems(raw).splitlines()[1:]
    assert len(problems) == 4, problems
    assert any("account: must be a 12-digit AWS account id" in p for p in problems)
    assert any("logRetentionDays" in p for p in problems)
    assert any("uploadExpiryDays: must be an integer from 1 to 3650, not 0" in p for p in problems)
    assert any(
        "loader.ephemeralStorageGiB: must be an integer from 21 to 200" in p for p in problems
    )


def test_missing_sections_are_named() -> None:
    raw = _dev()
    del raw["loader"]
    assert "om:environments.dev.loader: must be an object" in _problems(raw)


def _prod() -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(cdk_context()["om:environments"]["prod"])
    return raw


@pytest.mark.parametrize("name", ["prod", "staging"])
def test_outside_dev_a_certificate_is_required_and_named_by_its_path(name: str) -> None:
    raw = _prod()
    del raw["certificateArn"]
    assert f"om:environments.{name}.certificateArn: is required outside dev" in _problems(raw, name)
    assert "HTTPS only" in _problems(raw | {"certificateArn": None}, name)


def test_dev_may_stay_plain_http() -> None:
    assert parse_environment("dev", _dev()).certificate_arn is None


def test_prod_in_cdk_json_has_a_placeholder_certificate_of_its_own_account(tmp_path: Path) -> None:
    config = load_config(new_app(tmp_path, env="prod").node)
    assert config.certificate_arn is not None
    assert config.certificate_arn.startswith(f"arn:aws:acm:{config.region}:{config.account}:")


def test_certificate_must_be_usable_by_this_load_balancer() -> None:
    raw = _prod()
    raw["certificateArn"] = raw["certificateArn"].replace("eu-west-1", "us-east-1")
    assert "certificateArn: must be a certificate in eu-west-1, not us-east-1" in _problems(
        raw, "prod"
    )
    raw = _prod()
    raw["certificateArn"] = raw["certificateArn"].replace("123456789012", "210987654321")
    assert "must be a certificate of account 123456789012, not 210987654321" in _problems(
        raw, "prod"
    )
    assert "certificateArn: must be an ACM certificate ARN" in _problems(
        _prod() | {"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"}, "prod"
    )


def test_optional_sections_fall_back_to_documented_defaults() -> None:
    raw = _dev()
    raw.pop("waf", None)
    raw.pop("alarms", None)
    config = parse_environment("dev", raw)
    assert (config.waf.rate_limit, config.waf.window_seconds) == (
        DEFAULT_WAF_RATE_LIMIT,
        DEFAULT_WAF_WINDOW_SECONDS,
    )
    assert config.alarms.subscriptions == ()
    assert config.alarms.api_5xx_percent == DEFAULT_API_5XX_PERCENT
    assert config.alarms.api_p99_latency_ms == DEFAULT_API_P99_LATENCY_MS
    assert config.alarms.store_throttle_events == DEFAULT_STORE_THROTTLE_EVENTS
    assert config.alarms.failed_loads == DEFAULT_FAILED_LOADS


@pytest.mark.parametrize(
    ("waf", "message"),
    [
        ({"rateLimit": 9}, "waf.rateLimit: must be an integer from 10 to 2000000000, not 9"),
        ({"rateLimit": 2_000_000_001}, "waf.rateLimit: must be an integer from 10"),
        ({"rateLimit": "100"}, "waf.rateLimit: must be an integer"),
        ({"rateLimitWindowSeconds": 90}, "waf.rateLimitWindowSeconds: must be one of 60, 120"),
        ({"ratelimit": 100}, "waf.ratelimit: is not a setting (known: rateLimit"),
        ([], "om:environments.dev.waf: must be an object"),
    ],
)
def test_waf_rate_limit_is_what_waf_accepts(waf: Any, message: str) -> None:
    assert message in _problems(_dev() | {"waf": waf})


def test_waf_rate_limit_bounds_are_accepted() -> None:
    for limit in (10, 2_000_000_000):
        raw = _dev() | {"waf": {"rateLimit": limit, "rateLimitWindowSeconds": 60}}
        assert parse_environment("dev", raw).waf.rate_limit == limit


def test_alarm_subscriptions_of_each_protocol_are_read() -> None:
    subscriptions = [
        {"protocol": "email", "endpoint": "oncall@example.com"},
        {"protocol": "https", "endpoint": "https://events.example.com/integration/abc"},
        {"protocol": "sms", "endpoint": "+15555550100"},
    ]
    config = parse_environment("dev", _dev() | {"alarms": {"subscriptions": subscriptions}})
    assert [(s.protocol, s.endpoint) for s in config.alarms.subscriptions] == [
        (item["protocol"], item["endpoint"]) for item in subscriptions
    ]


@pytest.mark.parametrize(
    ("subscriptions", "message"),
    [
        ("oncall@example.com", "alarms.subscriptions: must be a list of"),
        ([{"protocol": "email"}], "subscriptions[0]: must be an object with exactly"),
        ([{"protocol": "pager", "endpoint": "x"}], "subscriptions[0].protocol: must be one of"),
        ([{"protocol": "email", "endpoint": "oncall"}], "endpoint: must be an email address"),
        (
            [{"protocol": "https", "endpoint": "http://example.com/hook"}],
            "subscriptions[0].endpoint: must be an https:// URL",
        ),
        ([{"protocol": "sms", "endpoint": "555-0100"}], "must be a phone number in E.164"),
        (
            [{"protocol": "email", "endpoint": "a@example.com"}] * 2,
            "alarms.subscriptions: lists the same subscription twice",
        ),
    ],
)
def test_alarm_subscriptions_are_checked(subscriptions: Any, message: str) -> None:
    assert message in _problems(_dev() | {"alarms": {"subscriptions": subscriptions}})


@pytest.mark.parametrize(
    ("alarms", "message"),
    [
        ({"api5xxPercent": 0}, "alarms.api5xxPercent: must be a number from 0.1 to 100, not 0"),
        ({"api5xxPercent": True}, "alarms.api5xxPercent: must be a number"),
        ({"apiP99LatencyMs": "1s"}, "alarms.apiP99LatencyMs: must be an integer from 10"),
        ({"storeThrottleEvents": 0}, "alarms.storeThrottleEvents: must be an integer from 1"),
        ({"failedLoads": 0.5}, "alarms.failedLoads: must be an integer from 1"),
        ({"latencyMs": 5}, "alarms.latencyMs: is not a setting"),
    ],
)
def test_alarm_thresholds_are_checked(alarms: dict[str, Any], message: str) -> None:
    assert message in _problems(_dev() | {"alarms": alarms})


def test_fractional_error_rate_thresholds_are_allowed() -> None:
    config = parse_environment("dev", _dev() | {"alarms": {"api5xxPercent": 0.5}})
    assert config.alarms.api_5xx_percent == 0.5
