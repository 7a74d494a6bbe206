"""The edge firewall: an AWS WAF web ACL in front of the load balancer.

Rules, in the order WAF evaluates them:

1. `RateLimitPerIp` — a rate-based rule counting requests per client IP over the configured
   window (cdk.json `waf`); an address over the limit gets `429` with a JSON body and
   `Retry-After` until its rate falls back under the limit. It comes first so a flood is cut
   before the managed rule groups spend capacity on it.
2. `AWSManagedRulesCommonRuleSet` — the OWASP-style baseline (XSS, LFI/RFI, SSRF to instance
   metadata, missing User-Agent, oversized parts of the request).
3. `AWSManagedRulesKnownBadInputsRuleSet` — request patterns of known exploits (Log4j,
   Java deserialization, `localhost` Host headers, exploitable paths).

`SizeRestrictions_BODY` (common rule set: bodies over 8 KB) stays a block. Every JSON body this
API takes is well under 1 KB (an order, a trade, a key), and CSV uploads go straight to S3 with a
presigned URL, never through the load balancer. On a load balancer WAF inspects only the first
8 KB of a body, so a larger body would carry content no rule has looked at. The block answers
`413` with the API's `{"detail": ...}` shape; the app's own `OM_MAX_BODY_BYTES` (64 KiB) limit
stays as defence in depth and is what the local stack enforces.

WAF logs go to CloudWatch Logs (the group must be named `aws-waf-logs-…`), keeping only the
requests a rule blocked or counted: the load balancer's access logs already record every request,
and logging each allowed one twice would double the cost of a busy API. The `Authorization`
header (a bearer API key) is redacted from the log.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Fn, RemovalPolicy, Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import FirewallConfig
from infra.log_retention import retention

RATE_RULE = "RateLimitPerIp"
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD_INPUTS_RULE_SET = "AWSManagedRulesKnownBadInputsRuleSet"
MANAGED_RULE_GROUPS = (COMMON_RULE_SET, KNOWN_BAD_INPUTS_RULE_SET)
BODY_SIZE_RULE = "SizeRestrictions_BODY"
# WAF requires this prefix for a log group it delivers to.
LOG_GROUP_PREFIX = "aws-waf-logs-"
# Redacted from logged requests: it carries the caller's API key.
REDACTED_HEADERS = ("authorization",)
RATE_LIMITED_RETRY_AFTER_SECONDS = 60

TOO_MANY_REQUESTS_BODY = "too-many-requests"
TOO_LARGE_BODY = "body-too-large"
RESPONSE_BODIES = {
    TOO_MANY_REQUESTS_BODY: '{"detail":"Too many requests from this address; retry later"}',
    TOO_LARGE_BODY: '{"detail":"Request body too large"}',
}


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=True,
    )


def _block(
    status: int, body_key: str, *, retry_after: int | None = None
) -> wafv2.CfnWebACL.RuleActionProperty:
    headers = (
        [wafv2.CfnWebACL.CustomHTTPHeaderProperty(name="Retry-After", value=str(retry_after))]
        if retry_after is not None
        else None
    )
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=status,
                custom_response_body_key=body_key,
                response_headers=headers,
            )
        )
    )


def _managed_rule(
    name: str, priority: int, overrides: list[wafv2.CfnWebACL.RuleActionOverrideProperty] | None
) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        # The group's own actions apply (block), except the rule actions overridden here.
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=name, rule_action_overrides=overrides
            )
        ),
        visibility_config=_visibility(name),
    )


class ApiFirewall(Construct):
    """The regional web ACL, its association with the load balancer, and its log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        load_balancer: elbv2.IApplicationLoadBalancer,
        limits: FirewallConfig,
        metric_name: str,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # The web ACL's CloudWatch metric name (the `WebACL` dimension of AWS/WAFV2 metrics).
        self.metric_name = metric_name
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            description="order-management API: rate limit per IP, AWS managed rule groups",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(metric_name),
            custom_response_bodies={
                key: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=content
                )
                for key, content in RESPONSE_BODIES.items()
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=RATE_RULE,
                    priority=0,
                    action=_block(
                        429, TOO_MANY_REQUESTS_BODY, retry_after=RATE_LIMITED_RETRY_AFTER_SECONDS
                    ),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=limits.rate_limit,
                            evaluation_window_sec=limits.window_seconds,
                        )
                    ),
                    visibility_config=_visibility(RATE_RULE),
                ),
                _managed_rule(
                    COMMON_RULE_SET,
                    1,
                    [
                        wafv2.CfnWebACL.RuleActionOverrideProperty(
                            name=BODY_SIZE_RULE, action_to_use=_block(413, TOO_LARGE_BODY)
                        )
                    ],
                ),
                _managed_rule(KNOWN_BAD_INPUTS_RULE_SET, 2, None),
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self,
            "Association",
            resource_arn=load_balancer.load_balancer_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )

        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # The stack id's UUID keeps a retained group from blocking a redeployed stack.
            log_group_name=Fn.join(
                "",
                [
                    LOG_GROUP_PREFIX,
                    stack.stack_name,
                    "-",
                    Fn.select(2, Fn.split("/", Aws.STACK_ID)),
                ],
            ),
            retention=retention(log_retention_days),
            removal_policy=removal,
        )
        self.logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            # WAF wants the log group's ARN without the `:*` suffix of its `Arn` attribute.
            log_destination_configs=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=self.log_group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": name})
                for name in REDACTED_HEADERS
            ],
            logging_filter={
                "DefaultBehavior": "DROP",
                "Filters": [
                    {
                        "Behavior": "KEEP",
                        "Requirement": "MEETS_ANY",
                        "Conditions": [
                            {"ActionCondition": {"Action": action}} for action in ("BLOCK", "COUNT")
                        ],
                    }
                ],
            },
        )
