"""Network: a NAT-free VPC reaching AWS through endpoints, flow logs, and the public load balancer.

Tasks and jobs run in private *isolated* subnets: no NAT gateway, no route to the internet.
Everything they talk to is reached through VPC endpoints — gateway endpoints for S3 (also where
ECR keeps image layers) and DynamoDB; interface endpoints for ECR (api, dkr) and CloudWatch Logs,
which is all a Fargate task (ECS service or Batch job) needs to pull its image and ship its logs.
The load balancer lives in the public subnets; only the configured CIDRs may reach it, through
an AWS WAF web ACL (`infra.firewall`). Outside dev it serves HTTPS only: port 80 just redirects.
"""

from __future__ import annotations

from aws_cdk import (
    CfnOutput,
    CrossStackReferences,
    Duration,
    Environment,
    ReferenceStrength,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.config import DeploymentConfig
from infra.firewall import ApiFirewall
from infra.log_retention import retention

DESCRIPTION = "order-management: VPC, endpoints, flow logs and the API load balancer"
VPC_CIDR = "10.40.0.0/16"
GATEWAY_ENDPOINTS = {
    "S3": ec2.GatewayVpcEndpointAwsService.S3,
    "DynamoDb": ec2.GatewayVpcEndpointAwsService.DYNAMODB,
}
INTERFACE_ENDPOINTS = {
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}


class NetworkStack(Stack):
    """The VPC, its endpoints and flow logs, the internet-facing ALB, its listener and firewall."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=DESCRIPTION)
        removal = RemovalPolicy.DESTROY if config.is_dev else RemovalPolicy.RETAIN

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            availability_zones=list(config.availability_zones)
            if config.availability_zones
            else None,
            max_azs=None if config.availability_zones else 2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
                ),
            ],
        )
        self.app_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        for endpoint_id, gateway in GATEWAY_ENDPOINTS.items():
            self.vpc.add_gateway_endpoint(endpoint_id, service=gateway, subnets=[self.app_subnets])
        # Public subnets host only the load balancer; nothing there gets a public IP by default.
        for subnet in self.vpc.public_subnets:
            cfn_subnet = subnet.node.default_child
            assert isinstance(cfn_subnet, ec2.CfnSubnet)
            cfn_subnet.map_public_ip_on_launch = False
        for endpoint_id, service in INTERFACE_ENDPOINTS.items():
            endpoint = self.vpc.add_interface_endpoint(
                endpoint_id,
                service=service,
                subnets=self.app_subnets,
                private_dns_enabled=True,
                open=False,
            )
            endpoint.connections.allow_default_port_from(
                ec2.Peer.ipv4(VPC_CIDR), "HTTPS from tasks and jobs in the VPC"
            )

        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention(config.log_retention_days),
            removal_policy=removal,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

        self.load_balancer_security_group = ec2.SecurityGroup(
            self,
            "LoadBalancerSecurityGroup",
            vpc=self.vpc,
            description="Internet-facing API load balancer: configured CIDRs only",
            allow_all_outbound=False,
        )
        port = 443 if config.certificate_arn else 80
        for cidr in config.ingress_cidrs:
            peer = ec2.Peer.ipv6(cidr) if ":" in cidr else ec2.Peer.ipv4(cidr)
            self.load_balancer_security_group.add_ingress_rule(
                peer, ec2.Port.tcp(port), f"API clients in {cidr}"
            )
            if config.certificate_arn:
                self.load_balancer_security_group.add_ingress_rule(
                    peer, ec2.Port.tcp(80), f"HTTP redirect to HTTPS for {cidr}"
                )

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=self.vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=self.load_balancer_security_group,
            drop_invalid_header_fields=True,
            deletion_protection=not config.is_dev,
            idle_timeout=Duration.seconds(60),
        )
        self.load_balancer.log_access_logs(self._access_log_bucket(removal))
        self.firewall = ApiFirewall(
            self,
            "Firewall",
            load_balancer=self.load_balancer,
            limits=config.waf,
            metric_name=f"{config.stack_prefix}-Api",
            log_retention_days=config.log_retention_days,
            removal=removal,
        )

        if config.certificate_arn:
            self.listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                certificates=[
                    acm.Certificate.from_certificate_arn(
                        self, "Certificate", config.certificate_arn
                    )
                ],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=False,
                default_action=_not_found(),
            )
            # Not `add_redirect`: that listener would be open to the world.
            self.load_balancer.add_listener(
                "HttpRedirect",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                open=False,
                default_action=elbv2.ListenerAction.redirect(
                    port="443", protocol="HTTPS", permanent=True
                ),
            )
        else:
            self.listener = self.load_balancer.add_listener(
                "Http",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                open=False,
                default_action=_not_found(),
            )

        # Adding a certificate later replaces the listener: its ARN is read by the compute stack
        # as this stack's output, not an Export that could not change while imported.
        CrossStackReferences.of(self.listener).produce(ReferenceStrength.WEAK)
        scheme = "https" if config.certificate_arn else "http"
        CfnOutput(
            self,
            "ApiUrl",
            description="Base URL of the API (point a DNS name matching the certificate at it)",
            value=f"{scheme}://{self.load_balancer.load_balancer_dns_name}/api",
        )

    def _access_log_bucket(self, removal: RemovalPolicy) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "LoadBalancerLogs",
            # ALB access logs support SSE-S3 only.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=removal,
            auto_delete_objects=removal == RemovalPolicy.DESTROY,
        )
        nag.acknowledge(
            bucket,
            "S1",
            "This bucket receives the load balancer's access logs; logging its own access would "
            "only log the log deliveries.",
        )
        return bucket


def _not_found() -> elbv2.ListenerAction:
    return elbv2.ListenerAction.fixed_response(
        404, content_type="application/json", message_body='{"detail":"Not Found"}'
    )
