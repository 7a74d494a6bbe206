"""The CDK app: `npx cdk synth` / `npx cdk deploy --all [-c env=NAME]` (README: Deploying to AWS).

Synth needs no AWS credentials and makes no lookups. cdk-nag's AwsSolutions pack runs as a policy
validation plugin: an unacknowledged finding fails the synth.
"""

from __future__ import annotations

import sys

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import ConfigError, load_config
from infra.deployment import build


def main() -> None:
    """Build the selected environment's stacks and synthesize them."""
    app = App()
    try:
        config = load_config(app.node)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    build(app, config)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
