"""Per-environment configuration from cdk.json: sensible defaults, every mistake named clearly."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_config, parse_environment
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
