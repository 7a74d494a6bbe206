"""The registry: scanned, immutable, lifecycle-managed repos filled from the CDK-built images."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from infra.registry import ServiceImage
    from tests.infra.conftest import Synthesized

IMAGES = {"api": "Dockerfile.api", "loader": "Dockerfile.loader"}


def _image(app: Synthesized, name: str) -> ServiceImage:
    image: ServiceImage = getattr(app.deployment.registry, name)
    return image


def _repository(app: Synthesized, name: str) -> dict[str, Any]:
    stack = app.deployment.registry
    logical_id = app.resolve(stack, _image(app, name).repository.repository_name)["Ref"]
    resource: dict[str, Any] = app.template_json(stack)["Resources"][logical_id]
    return resource


@pytest.mark.parametrize("name", IMAGES)
def test_repository_scans_on_push_and_keeps_tags_immutable(each: Synthesized, name: str) -> None:
    properties = _repository(each, name)["Properties"]
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert properties["ImageTagMutability"] == "IMMUTABLE"


@pytest.mark.parametrize("name", IMAGES)
def test_repository_lifecycle_drops_untagged_and_keeps_recent_images(
    each: Synthesized, name: str
) -> None:
    policy = json.loads(
        _repository(each, name)["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]
    )
    selections = [rule["selection"] for rule in policy["rules"]]
    assert {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countNumber": 1,
        "countUnit": "days",
    } in selections
    assert any(
        s["tagStatus"] == "any" and s["countType"] == "imageCountMoreThan" for s in selections
    )
    assert all(rule["action"] == {"type": "expire"} for rule in policy["rules"])


def test_production_repositories_are_retained(prod: Synthesized) -> None:
    for name in IMAGES:
        assert _repository(prod, name)["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_is_built_by_cdk_from_its_dockerfile(dev: Synthesized, name: str) -> None:
    manifest = json.loads(
        (dev.outdir / f"{dev.deployment.registry.artifact_id}.assets.json").read_text()
    )
    image = manifest["dockerImages"][_image(dev, name).tag]
    assert image["source"]["dockerFile"] == IMAGES[name]
    assert image["source"]["platform"] == "linux/amd64"


@pytest.mark.parametrize("name", IMAGES)
def test_each_image_is_copied_into_its_repository_under_its_content_hash(
    dev: Synthesized, name: str
) -> None:
    stack = dev.deployment.registry
    image = _image(dev, name)
    copies = dev.resources(stack, "Custom::CDKECRDeployment").values()
    repository_ref = dev.resolve(stack, image.repository.repository_name)
    (copy,) = [c for c in copies if repository_ref in c["Properties"]["DestImage"]["Fn::Join"][1]]
    source = json.dumps(copy["Properties"]["SrcImage"])
    destination = copy["Properties"]["DestImage"]["Fn::Join"][1]
    assert f":{image.tag}" in source
    assert destination[-1] == f":{image.tag}"


def test_services_run_the_copied_images_only_after_the_copy(dev: Synthesized) -> None:
    compute = dev.deployment.compute
    assert dev.deployment.registry in compute.dependencies
    task_definitions = dev.resources(compute, "AWS::ECS::TaskDefinition").values()
    (api_container,) = [
        d for t in task_definitions for d in t["Properties"]["ContainerDefinitions"]
    ]
    (job,) = dev.resources(compute, "AWS::Batch::JobDefinition").values()
    for image, name in (
        (api_container["Image"], "api"),
        (job["Properties"]["ContainerProperties"]["Image"], "loader"),
    ):
        parts = image["Fn::Join"][1]
        assert parts[-1] == f":{_image(dev, name).tag}"
        assert "cdk-hnb659fds-container-assets" not in json.dumps(image)


def test_image_copier_pushes_only_to_the_two_repositories(dev: Synthesized) -> None:
    stack = dev.deployment.registry
    (policy,) = dev.resources(stack, "AWS::IAM::Policy").values()
    repositories = sorted(
        [dev.resolve(stack, _image(dev, name).repository.repository_arn) for name in IMAGES],
        key=json.dumps,
    )
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert not any("*" in action for action in actions)
        if "ecr:PutImage" in actions:
            assert sorted(statement["Resource"], key=json.dumps) == repositories
        if statement["Resource"] == "*":
            assert actions == ["ecr:GetAuthorizationToken"]
