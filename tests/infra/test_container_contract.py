"""What each container is given is exactly what its code reads, and runs what its image says.

The expected environment is derived from the services' own pydantic settings classes
(`ApiSettings`, `LoaderSettings`) minus the local-only settings (emulator endpoints and explicit
keys; on AWS the task role signs), and compared with the names in the synthesized task and job
definitions: a setting added to a service fails here until the CDK app decides its value, and a
variable nobody reads fails here too. The values must also pass the settings' own validation.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic_settings import BaseSettings

from infra.container_env import API_PORT, LOCAL_ONLY_SETTINGS, RUN_AS_USER
from services.api.settings import ApiSettings
from services.loader.events import load_job_command
from services.loader.settings import LoaderSettings

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]


def expected_variables(settings: type[BaseSettings]) -> set[str]:
    """`OM_*` names of every setting the class reads, except the local-only ones."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    assert set(settings.model_fields) >= LOCAL_ONLY_SETTINGS, "local-only names drifted"
    return {
        f"{prefix}{name}".upper()
        for name in settings.model_fields
        if name not in LOCAL_ONLY_SETTINGS
    }


def api_environment(app: Synthesized) -> dict[str, Any]:
    (task,) = app.resources(app.deployment.compute, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    return {item["Name"]: item["Value"] for item in container["Environment"]}


def loader_environment(app: Synthesized) -> dict[str, Any]:
    (job,) = app.resources(app.deployment.compute, "AWS::Batch::JobDefinition").values()
    environment = job["Properties"]["ContainerProperties"]["Environment"]
    return {item["Name"]: item["Value"] for item in environment}


CONTAINERS = {
    "api": (ApiSettings, api_environment),
    "loader": (LoaderSettings, loader_environment),
}


def test_expected_sets_really_come_from_the_settings_classes() -> None:
    api, loader = expected_variables(ApiSettings), expected_variables(LoaderSettings)
    assert {"OM_TABLE_NAME", "OM_API_PORT", "OM_UPLOAD_URL_EXPIRY_SECONDS"} <= api
    assert {"OM_TABLE_NAME", "OM_DOWNLOAD_DIR", "OM_REPORT_PREFIX"} <= loader
    assert "OM_DYNAMODB_ENDPOINT_URL" not in api | loader
    assert "OM_API_PORT" not in loader


@pytest.mark.parametrize("container", CONTAINERS)
def test_container_environment_is_exactly_the_settings_its_service_reads(
    each: Synthesized, container: str
) -> None:
    settings, environment = CONTAINERS[container]
    assert set(environment(each)) == expected_variables(settings)


@pytest.mark.parametrize("container", CONTAINERS)
def test_container_environment_is_valid_for_its_settings(
    each: Synthesized, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, environment = CONTAINERS[container]
    for name in [name for name in os.environ if name.startswith("OM_")]:
        monkeypatch.delenv(name)
    for name, value in environment(each).items():
        # Deploy-time values (the table, the bucket, the region) are references here.
        monkeypatch.setenv(name, value if isinstance(value, str) else "resolved-at-deploy")
    loaded = settings()
    assert loaded.dynamodb_endpoint_url is None and loaded.aws_access_key_id is None


@pytest.mark.parametrize("container", CONTAINERS)
def test_containers_are_pointed_at_this_deployments_table_bucket_and_region(
    each: Synthesized, container: str
) -> None:
    compute = each.deployment.compute
    data = each.deployment.data
    _, environment = CONTAINERS[container]
    variables = environment(each)
    assert variables["OM_TABLE_NAME"] == each.resolve(compute, data.table.table_name)
    assert variables["OM_BUCKET_NAME"] == each.resolve(compute, data.bucket.bucket_name)
    assert variables["OM_REGION"] == {"Ref": "AWS::Region"}
    assert variables["OM_UPLOAD_PREFIX"] == "uploads/"


def test_api_listens_where_the_load_balancer_sends_traffic(each: Synthesized) -> None:
    variables = api_environment(each)
    assert (variables["OM_API_HOST"], variables["OM_API_PORT"]) == ("0.0.0.0", str(API_PORT))


def _instructions(dockerfile: str, keyword: str) -> list[str]:
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    return [
        match.group(1).strip()
        for match in re.finditer(
            rf"^\s*{keyword}\s+(.+)$", text, flags=re.MULTILINE | re.IGNORECASE
        )
    ]


def test_api_task_runs_exactly_om_api(each: Synthesized) -> None:
    (task,) = each.resources(each.deployment.compute, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    entrypoint = json.loads(_instructions("Dockerfile.api", "ENTRYPOINT")[-1])
    command = container.get("EntryPoint", entrypoint) + container.get("Command", [])
    assert command == ["om", "api"]


def test_loader_job_runs_exactly_the_loaders_command_line(each: Synthesized) -> None:
    (job,) = each.resources(each.deployment.compute, "AWS::Batch::JobDefinition").values()
    entrypoint = json.loads(_instructions("Dockerfile.loader", "ENTRYPOINT")[-1])
    command = job["Properties"]["ContainerProperties"]["Command"]
    assert entrypoint + command == load_job_command("Ref::bucket", "Ref::key")


@pytest.mark.parametrize("dockerfile", ["Dockerfile.api", "Dockerfile.loader"])
def test_task_user_is_the_images_non_root_user(dockerfile: str) -> None:
    assert _instructions(dockerfile, "USER")[-1] == RUN_AS_USER
    assert not RUN_AS_USER.startswith("0:")
