"""The training endpoint without internet (context `trainingVpcOnly`, issue 21 M1; docs/configuration.md).

The training container decodes untrusted images. With this option its instances run in a VPC of their own
with isolated subnets only (no internet or NAT gateway, so no route out), and one S3 gateway endpoint whose
policy lets through only the data bucket: the input archive, the base model, class images, progress,
previews, the staged model and SageMaker's async outputs all live there. The container calls no other AWS
service (its only client is S3), so it needs no interface endpoint; SageMaker itself pulls the image and
publishes the notifications. Flow logs go to an encrypted log group.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import ServiceConfig
from stacks.log_groups import encrypted_log_group

# What SageMaker needs to attach the instances to the subnets (the actions of AmazonSageMakerFullAccess's
# VPC statement). The Describe* actions support no resource-level permissions.
NETWORK_INTERFACE_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
]
DESCRIBE_ACTIONS = [
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]


class TrainingNetwork(Construct):
    """A VPC with isolated subnets in two zones, an S3 gateway endpoint limited to `bucket`, a security group
    that allows only HTTPS out, flow logs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ServiceConfig, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.80.0.0/20"),
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="training", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            restrict_default_security_group=True,
        )
        self.vpc.add_flow_log(
            "FlowLogs",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                encrypted_log_group(self, "FlowLogGroup", config)
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.s3_endpoint = self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.s3_endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="OnlyTheDataBucket",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:AbortMultipartUpload"],
                resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            )
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=self.vpc,
            description="Avatar training instances: HTTPS out (only the S3 gateway endpoint is routable)",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "S3 through the gateway endpoint"
        )

    @property
    def subnet_ids(self) -> list[str]:
        return [subnet.subnet_id for subnet in self.vpc.isolated_subnets]

    def grant_attach(self, role: iam.IRole) -> None:
        """What SageMaker needs, as the endpoint's execution role, to put the instances in the subnets."""
        stack = Stack.of(self)
        interfaces = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
        subnets = [
            stack.format_arn(service="ec2", resource="subnet", resource_name=subnet_id)
            for subnet_id in self.subnet_ids
        ]
        group = stack.format_arn(
            service="ec2", resource="security-group", resource_name=self.security_group.security_group_id
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=NETWORK_INTERFACE_ACTIONS, resources=[interfaces, *subnets, group])
        )
        role.add_to_principal_policy(iam.PolicyStatement(actions=DESCRIBE_ACTIONS, resources=["*"]))
