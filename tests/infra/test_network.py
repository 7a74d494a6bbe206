"""The network stack: a NAT-free VPC over two zones, its endpoints and flow logs, the public ALB."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import parse_environment
from infra.deployment import aws_environment
from infra.firewall import (
    BODY_SIZE_RULE,
    COMMON_RULE_SET,
    KNOWN_BAD_INPUTS_RULE_SET,
    LOG_GROUP_PREFIX,
    MANAGED_RULE_GROUPS,
    RATE_LIMITED_RETRY_AFTER_SECONDS,
    RATE_RULE,
)
from infra.network import NetworkStack
from tests.infra.conftest import cdk_context, new_app

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized


def _subnets(app: Synthesized, kind: str) -> list[dict[str, Any]]:
    """Subnets tagged by CDK as `Public` or `Isolated`."""
    subnets = app.resources(app.deployment.network, "AWS::EC2::Subnet").values()
    return [
        subnet["Properties"]
        for subnet in subnets
        if {"Key": "aws-cdk:subnet-type", "Value": kind} in subnet["Properties"]["Tags"]
    ]


@pytest.mark.parametrize("kind", ["Public", "Isolated"])
def test_vpc_has_public_and_isolated_subnets_in_two_zones_or_more(
    each: Synthesized, kind: str
) -> None:
    subnets = _subnets(each, kind)
    zones = {str(subnet["AvailabilityZone"]) for subnet in subnets}
    assert len(subnets) >= 2
    assert len(zones) == len(subnets)


def test_production_vpc_uses_the_configured_zones(prod: Synthesized) -> None:
    zones = {subnet["AvailabilityZone"] for subnet in _subnets(prod, "Isolated")}
    assert zones == set(prod.config.availability_zones or ())


def test_vpc_has_no_nat_gateway_and_isolated_subnets_have_no_default_route(
    each: Synthesized,
) -> None:
    template = each.template(each.deployment.network)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    isolated_tables = {
        table_id
        for table_id, table in each.resources(
            each.deployment.network, "AWS::EC2::RouteTable"
        ).items()
        if "isolated" in str(table["Properties"]["Tags"]).lower()
    }
    assert isolated_tables
    for route in each.resources(each.deployment.network, "AWS::EC2::Route").values():
        assert route["Properties"]["RouteTableId"]["Ref"] not in isolated_tables


@pytest.mark.parametrize("service", [".s3", ".dynamodb"])
def test_gateway_endpoints_serve_the_isolated_subnets(each: Synthesized, service: str) -> None:
    each.template(each.deployment.network).has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, service]]},
            "RouteTableIds": Match.any_value(),
        },
    )


@pytest.mark.parametrize("service", ["ecr.api", "ecr.dkr", "logs"])
def test_interface_endpoints_let_fargate_pull_images_and_ship_logs(
    each: Synthesized, service: str
) -> None:
    each.template(each.deployment.network).has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Interface",
            "ServiceName": f"com.amazonaws.{each.config.region}.{service}",
            "PrivateDnsEnabled": True,
        },
    )


def test_interface_endpoints_accept_https_from_inside_the_vpc_only(each: Synthesized) -> None:
    groups = each.resources(each.deployment.network, "AWS::EC2::SecurityGroup")
    endpoint_groups = [
        group for group in groups.values() if "Vpc/" in str(group["Properties"]["GroupDescription"])
    ]
    assert len(endpoint_groups) == 3
    for group in endpoint_groups:
        (rule,) = group["Properties"]["SecurityGroupIngress"]
        assert (rule["CidrIp"], rule["FromPort"], rule["ToPort"]) == ("10.40.0.0/16", 443, 443)


def test_vpc_flow_logs_capture_all_traffic_to_cloudwatch(each: Synthesized) -> None:
    each.template(each.deployment.network).has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceType": "VPC", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"},
    )


def _load_balancer(app: Synthesized) -> tuple[dict[str, Any], dict[str, Any]]:
    """(properties, attributes by key) of the one load balancer."""
    (balancer,) = app.resources(
        app.deployment.network, "AWS::ElasticLoadBalancingV2::LoadBalancer"
    ).values()
    attributes = {
        item["Key"]: item["Value"] for item in balancer["Properties"]["LoadBalancerAttributes"]
    }
    return balancer["Properties"], attributes


def test_load_balancer_is_internet_facing_with_access_logs(each: Synthesized) -> None:
    properties, attributes = _load_balancer(each)
    assert properties["Scheme"] == "internet-facing"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def _load_balancer_ingress(app: Synthesized) -> list[dict[str, Any]]:
    stack = app.deployment.network
    group_id = app.resolve(
        stack, app.deployment.network.load_balancer_security_group.security_group_id
    )
    logical_id = group_id["Fn::GetAtt"][0]
    group = app.template_json(stack)["Resources"][logical_id]["Properties"]
    standalone = [
        rule["Properties"]
        for rule in app.resources(stack, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == group_id
    ]
    return list(group.get("SecurityGroupIngress", [])) + standalone


def _api_port(app: Synthesized) -> tuple[int, str]:
    """(port, protocol) the API is served on: HTTPS with a certificate, else HTTP."""
    return (443, "HTTPS") if app.config.certificate_arn else (80, "HTTP")


def test_load_balancer_admits_only_the_configured_cidrs(each: Synthesized) -> None:
    rules = _load_balancer_ingress(each)
    ports = {80, _api_port(each)[0]}  # with HTTPS, port 80 stays open for the redirect
    assert {(rule["CidrIp"], rule["FromPort"], rule["ToPort"]) for rule in rules} == {
        (cidr, port, port) for cidr in each.config.ingress_cidrs for port in ports
    }


def test_listener_answers_404_outside_the_api(each: Synthesized) -> None:
    port, protocol = _api_port(each)
    each.template(each.deployment.network).has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": port,
            "Protocol": protocol,
            "DefaultActions": [
                Match.object_like(
                    {
                        "Type": "fixed-response",
                        "FixedResponseConfig": Match.object_like({"StatusCode": "404"}),
                    }
                )
            ],
        },
    )


def test_only_production_load_balancer_has_deletion_protection(each: Synthesized) -> None:
    _, attributes = _load_balancer(each)
    expected = "false" if each.config.is_dev else "true"
    assert attributes["deletion_protection.enabled"] == expected


CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f3c1c1e-1111-2222-3333-444455556666"
CUSTOM_WAF = {"rateLimit": 250, "rateLimitWindowSeconds": 60}


@pytest.fixture(scope="module")
def https_network(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The dev network with a certificate and its own WAF limits: HTTPS on 443, HTTP redirects."""
    raw = cdk_context()["om:environments"]["dev"] | {
        "certificateArn": CERTIFICATE,
        "waf": CUSTOM_WAF,
    }
    app = new_app(Path(tmp_path_factory.mktemp("cdk-https")))
    config = parse_environment("dev", raw)
    stack = NetworkStack(app, "Network", config=config, env=aws_environment(config, app))
    return Template.from_stack(stack)


def test_with_a_certificate_the_api_is_served_over_tls(https_network: Template) -> None:
    https_network.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 443,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": CERTIFICATE}],
            "SslPolicy": Match.string_like_regexp("TLS"),
        },
    )
    https_network.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [
                Match.object_like(
                    {"Type": "redirect", "RedirectConfig": Match.object_like({"Port": "443"})}
                )
            ],
        },
    )


def test_with_a_certificate_the_configured_cidrs_reach_both_ports(https_network: Template) -> None:
    groups = https_network.find_resources(
        "AWS::EC2::SecurityGroup",
        {"Properties": {"GroupDescription": Match.string_like_regexp("load balancer")}},
    )
    (group,) = groups.values()
    ports = {
        (rule["CidrIp"], rule["FromPort"]) for rule in group["Properties"]["SecurityGroupIngress"]
    }
    assert ports == {("203.0.113.0/24", 443), ("203.0.113.0/24", 80)}


def test_stack_outputs_the_api_base_url(each: Synthesized) -> None:
    outputs = each.template_json(each.deployment.network)["Outputs"]
    (url,) = [o for o in outputs.values() if o.get("Description", "").startswith("Base URL")]
    parts = url["Value"]["Fn::Join"][1]
    assert parts[0] == f"{_api_port(each)[1].lower()}://" and parts[-1] == "/api"
    assert parts[1] == each.resolve(
        each.deployment.network, each.deployment.network.load_balancer.load_balancer_dns_name
    )


# What EC2 accepts in security group and rule descriptions (anything else fails the deploy).
EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]*$")


RULE_TYPES = ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")


def _descriptions(resources: dict[str, dict[str, Any]]) -> Iterator[str]:
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            yield properties["GroupDescription"]
            for rule in properties.get("SecurityGroupIngress", []) + properties.get(
                "SecurityGroupEgress", []
            ):
                yield rule.get("Description", "")
        elif resource["Type"] in (
            "AWS::EC2::SecurityGroupIngress",
            "AWS::EC2::SecurityGroupEgress",
        ):
            yield properties.get("Description", "")


def test_security_group_descriptions_use_only_characters_ec2_accepts(
    each: Synthesized, https_network: Template
) -> None:
    resources = [each.template_json(stack)["Resources"] for stack in each.deployment.stacks]
    resources.append(https_network.to_json()["Resources"])
    for stack_resources in resources:
        for description in _descriptions(stack_resources):
            assert EC2_DESCRIPTION.match(description), description


def test_outside_dev_the_api_is_served_over_https_only(prod: Synthesized) -> None:
    network, compute = prod.deployment.network, prod.deployment.compute
    listeners = {
        listener["Properties"]["Port"]: (logical_id, listener["Properties"])
        for logical_id, listener in prod.resources(
            network, "AWS::ElasticLoadBalancingV2::Listener"
        ).items()
    }
    assert set(listeners) == {80, 443}
    https_id, https = listeners[443]
    assert https["Protocol"] == "HTTPS"
    assert https["Certificates"] == [{"CertificateArn": prod.config.certificate_arn}]
    (redirect,) = listeners[80][1]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"] == {
        "Port": "443",
        "Protocol": "HTTPS",
        "StatusCode": "HTTP_301",
    }
    # The API's route hangs off the HTTPS listener only: nothing is served over plain HTTP.
    assert prod.resolve(network, network.listener.listener_arn) == {"Ref": https_id}
    (rule,) = prod.resources(compute, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    assert rule["Properties"]["ListenerArn"] == prod.resolve(compute, network.listener.listener_arn)


# --- the edge firewall ------------------------------------------------------------------------


def _web_acl(template: Template) -> dict[str, Any]:
    (acl,) = template.find_resources("AWS::WAFv2::WebACL").values()
    properties: dict[str, Any] = acl["Properties"]
    return properties


def _rules(template: Template) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in _web_acl(template)["Rules"]}


def test_web_acl_guards_the_load_balancer(each: Synthesized) -> None:
    network = each.deployment.network
    template = each.template(network)
    acl = _web_acl(template)
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    (association,) = each.resources(network, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"] == {
        "ResourceArn": each.resolve(network, network.load_balancer.load_balancer_arn),
        "WebACLArn": each.resolve(network, network.firewall.web_acl.attr_arn),
    }


def test_web_acl_rate_limits_each_client_ip_first(each: Synthesized) -> None:
    rule = _rules(each.template(each.deployment.network))[RATE_RULE]
    assert rule["Priority"] == 0
    assert rule["Statement"] == {
        "RateBasedStatement": {
            "AggregateKeyType": "IP",
            "Limit": each.config.waf.rate_limit,
            "EvaluationWindowSec": each.config.waf.window_seconds,
        }
    }
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    assert response["ResponseHeaders"] == [
        {"Name": "Retry-After", "Value": str(RATE_LIMITED_RETRY_AFTER_SECONDS)}
    ]


def test_web_acl_rate_limit_is_the_environments_own(https_network: Template) -> None:
    statement = _rules(https_network)[RATE_RULE]["Statement"]["RateBasedStatement"]
    assert (statement["Limit"], statement["EvaluationWindowSec"]) == (
        CUSTOM_WAF["rateLimit"],
        CUSTOM_WAF["rateLimitWindowSeconds"],
    )


def test_web_acl_runs_the_aws_managed_rule_groups_as_they_are(each: Synthesized) -> None:
    rules = _rules(each.template(each.deployment.network))
    assert set(rules) == {RATE_RULE, *MANAGED_RULE_GROUPS}
    for name in MANAGED_RULE_GROUPS:
        statement = rules[name]["Statement"]["ManagedRuleGroupStatement"]
        assert (statement["VendorName"], statement["Name"]) == ("AWS", name)
        assert rules[name]["OverrideAction"] == {"None": {}}
    assert [rules[name]["Priority"] for name in (RATE_RULE, *MANAGED_RULE_GROUPS)] == [0, 1, 2]
    known_bad = rules[KNOWN_BAD_INPUTS_RULE_SET]["Statement"]["ManagedRuleGroupStatement"]
    assert "RuleActionOverrides" not in known_bad


def test_bodies_over_what_waf_inspects_are_refused_as_too_large(each: Synthesized) -> None:
    acl = _web_acl(each.template(each.deployment.network))
    common = {rule["Name"]: rule for rule in acl["Rules"]}[COMMON_RULE_SET]
    (override,) = common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    assert override["Name"] == BODY_SIZE_RULE
    response = override["ActionToUse"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 413
    body = acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    # The API's error shape: a client sees the same `{"detail"}` from WAF as from the app.
    assert set(json.loads(body["Content"])) == {"detail"}


def test_every_custom_response_body_is_the_apis_error_shape(each: Synthesized) -> None:
    bodies = _web_acl(each.template(each.deployment.network))["CustomResponseBodies"]
    assert bodies
    for body in bodies.values():
        assert set(json.loads(body["Content"])) == {"detail"}


def test_web_acl_and_every_rule_publish_metrics_and_samples(each: Synthesized) -> None:
    acl = _web_acl(each.template(each.deployment.network))
    configs = [acl["VisibilityConfig"]] + [rule["VisibilityConfig"] for rule in acl["Rules"]]
    for config in configs:
        assert config["CloudWatchMetricsEnabled"] is True
        assert config["SampledRequestsEnabled"] is True
    assert acl["VisibilityConfig"]["MetricName"] == each.deployment.network.firewall.metric_name
    names = [config["MetricName"] for config in configs]
    assert len(set(names)) == len(names)
    assert each.config.name in acl["VisibilityConfig"]["MetricName"]


def test_waf_logs_blocked_and_counted_requests_without_api_keys(each: Synthesized) -> None:
    network = each.deployment.network
    (logging,) = each.resources(network, "AWS::WAFv2::LoggingConfiguration").values()
    properties = logging["Properties"]
    assert properties["ResourceArn"] == each.resolve(network, network.firewall.web_acl.attr_arn)
    assert properties["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]
    assert properties["LoggingFilter"] == {
        "DefaultBehavior": "DROP",
        "Filters": [
            {
                "Behavior": "KEEP",
                "Requirement": "MEETS_ANY",
                "Conditions": [
                    {"ActionCondition": {"Action": "BLOCK"}},
                    {"ActionCondition": {"Action": "COUNT"}},
                ],
            }
        ],
    }
    (destination,) = properties["LogDestinationConfigs"]
    log_group_name = each.resolve(network, network.firewall.log_group.log_group_name)
    assert log_group_name in destination["Fn::Join"][1]
    assert not str(destination).endswith(":*")


def test_waf_log_group_has_the_prefix_waf_requires_and_a_retention(each: Synthesized) -> None:
    network = each.deployment.network
    logical_id = each.resolve(network, network.firewall.log_group.log_group_name)["Ref"]
    group = each.template_json(network)["Resources"][logical_id]["Properties"]
    parts = group["LogGroupName"]["Fn::Join"][1]
    assert parts[0].startswith(LOG_GROUP_PREFIX) and LOG_GROUP_PREFIX == "aws-waf-logs-"
    assert group["RetentionInDays"] == each.config.log_retention_days
