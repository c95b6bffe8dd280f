"""Issue 21 M1: the training endpoint without internet (`trainingVpcOnly`), and the training role's reads
scoped to a training's own input archive."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.conftest import Synth
from tests.infrastructure.helpers import granted, of_type, one, statements, text


def test_by_default_the_training_model_has_no_vpc(service: dict[str, Any]) -> None:
    assert of_type(service, "AWS::EC2::VPC") == {}
    assert "VpcConfig" not in one(service, "AWS::SageMaker::Model", "TrainingModel")


def test_vpc_only_training_has_no_route_out_but_the_s3_gateway_to_the_data_bucket(variant: Synth) -> None:
    service = variant.template("AvatarService")
    assert variant.validation_error is None  # cdk-nag clean with the option on
    assert len(of_type(service, "AWS::EC2::VPC")) == 1
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway"):
        assert of_type(service, kind) == {}, kind
    routes = [r["Properties"] for r in of_type(service, "AWS::EC2::Route").values()]
    assert routes == []  # isolated subnets: only the gateway endpoint's prefix-list routes exist
    [endpoint] = [e["Properties"] for e in of_type(service, "AWS::EC2::VPCEndpoint").values()]
    assert endpoint["VpcEndpointType"] == "Gateway" and ".s3" in text(endpoint["ServiceName"])
    policy = endpoint["PolicyDocument"]["Statement"]
    assert len(policy) == 1 and "demo-data-" in text(policy[0]["Resource"])
    assert "demo-hosting-" not in text(endpoint["PolicyDocument"])
    model = one(service, "AWS::SageMaker::Model", "TrainingModel")
    assert len(model["VpcConfig"]["Subnets"]) == 2 and len(model["VpcConfig"]["SecurityGroupIds"]) == 1
    [group] = [g["Properties"] for g in of_type(service, "AWS::EC2::SecurityGroup").values()
               if "training" in g["Properties"]["GroupDescription"].lower()]  # fmt: skip
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in group["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)
    ]
    assert "SecurityGroupIngress" not in group
    assert len(of_type(service, "AWS::EC2::FlowLog")) == 1
    # SageMaker may place the instances' network interfaces only in these subnets and this group
    creates = granted(statements(service, "TrainingExecutionRole"), "ec2:CreateNetworkInterface")
    assert len(creates) == 1 and "network-interface/*" in creates[0] and "security-group/" in creates[0]


def test_the_training_role_reads_only_input_archives_below_trainings(service: dict[str, Any]) -> None:
    reads = " ".join(
        r for r in granted(statements(service, "TrainingExecutionRole"), "s3:GetObject") if "trainings/" in r
    )
    assert "/trainings/*/*/input.tar.gz*" in reads and '/trainings/*"' not in reads
