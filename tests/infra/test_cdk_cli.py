"""`cdk synth` through the real, pinned CLI (aws-cdk from npm, package-lock.json): no AWS
credentials, no lookups, no Docker engine — image assets are only fingerprinted at synth.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("Network", "Registry", "Data", "Compute", "Pipeline", "Monitoring")


def _pinned_cli_version() -> str:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    version: str = lock["packages"]["node_modules/aws-cdk"]["version"]
    return version


def _installed_cli_version() -> str | None:
    manifest = ROOT / "node_modules" / "aws-cdk" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


@pytest.fixture(scope="module")
def cdk_cli() -> Path:
    """The pinned `cdk` from node_modules, installed with `npm ci` when missing or stale."""
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("npm is required in CI for the real `cdk synth` test")
        pytest.skip("npm is not installed: the real `cdk synth` test needs Node.js and npm")
    if _installed_cli_version() != _pinned_cli_version():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=ROOT,
            check=True,
            timeout=300,
        )
    assert _installed_cli_version() == _pinned_cli_version()
    return ROOT / "node_modules" / ".bin" / "cdk"


def _without_aws_credentials(home: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "CDK_", "OM_")) and name != "PYTEST_CURRENT_TEST"
    }
    return environment | {
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }


def test_cdk_synth_needs_no_credentials_no_lookups_and_no_docker(
    cdk_cli: Path, tmp_path: Path
) -> None:
    outdir = tmp_path / "cdk.out"
    context_cache = ROOT / "cdk.context.json"
    had_context_cache = context_cache.exists()
    result = subprocess.run(
        [str(cdk_cli), "synth", "--no-notices", "--no-version-reporting", "-q", "-o", str(outdir)],
        cwd=ROOT,
        env=_without_aws_credentials(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert "missing" not in manifest, "synth wanted a context lookup"
    assert had_context_cache or not context_cache.exists()
    for stack in STACKS:
        template = json.loads((outdir / f"OrderManagement-dev-{stack}.template.json").read_text())
        assert template["Resources"]
    registry = json.loads((outdir / "OrderManagement-dev-Registry.assets.json").read_text())
    dockerfiles = sorted(
        image["source"]["dockerFile"] for image in registry["dockerImages"].values()
    )
    assert dockerfiles == ["Dockerfile.api", "Dockerfile.loader"]
