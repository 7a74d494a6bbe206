"""cfn-lint finds nothing in any synthesized template of either environment.

Two warnings are switched off, each for a reason that holds for every template we make:

* W3005 (a DependsOn also implied by a GetAtt): CDK's own custom-resource providers (bucket
  notifications, auto-delete, default-SG restriction, the image copy) always declare both.
* W3010 (hard-coded availability zones): an environment with a fixed account names its zones in
  cdk.json on purpose, so that synth needs no lookup; CDK itself acknowledges the same warning.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

IGNORED = ("W3005", "W3010")


def _cfn_lint(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_template_is_cfn_lint_clean(apps: dict[str, Synthesized]) -> None:
    templates = sorted(
        str(path) for app in apps.values() for path in app.outdir.glob("*.template.json")
    )
    assert len(templates) == sum(len(app.deployment.stacks) for app in apps.values()) == 2 * 6
    result = _cfn_lint("--ignore-checks", *IGNORED, "--", *templates)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_really_reports_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.template.json"
    broken.write_text(
        '{"Resources": {"Queue": {"Type": "AWS::SQS::Queue",'
        ' "Properties": {"MessageRetentionPeriod": "forever"}}}}'
    )
    result = _cfn_lint("--", str(broken))
    assert result.returncode != 0
    assert ":E3012:" in result.stdout
