"""The region's network for the functions that call WeCom: fixed egress IPs, and private paths to DynamoDB and SQS.

WeCom accepts a self-built app's calls only from the IPs its tenant lists as trusted (WECOM.md §9.1, errcode 60020),
so those functions run in private subnets whose default route is a NAT gateway with an Elastic IP, one per configured
availability zone (a zone's outage leaves the others' subnets working). The Elastic IPs are stack outputs and reach
the functions as `EGRESS_IPS` (the ops API shows them to each tenant's onboarding; the per-IP rate limit buckets key
on them). Inside the VPC, DynamoDB is reached through a gateway endpoint (free, no NAT traffic) and SQS through an
interface endpoint. Functions that never call WeCom stay outside the VPC (no network interface to attach on a cold
start).
"""

from __future__ import annotations

from typing import Any

from infra.regions import Region

VPC = "Vpc"
LAMBDA_SECURITY_GROUP = "LambdaSecurityGroup"
ENDPOINT_SECURITY_GROUP = "EndpointSecurityGroup"
VPC_CIDR = "10.20.0.0/16"
HTTPS = 443


def private_subnet_id(index: int) -> str:
    return f"PrivateSubnet{index + 1}"


def public_subnet_id(index: int) -> str:
    return f"PublicSubnet{index + 1}"


def eip_id(index: int) -> str:
    return f"EgressIp{index + 1}"


def _subnet(az: str, cidr: str, public: bool) -> dict[str, Any]:
    """A subnet in a zone the regions file names: ops choose the zones (NAT gateways cost per zone, and tenants
    list each zone's IP), so cfn-lint's advice against naming zones is waived here."""
    return {
        "Type": "AWS::EC2::Subnet",
        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["W3010"]}}},
        "Properties": {
            "VpcId": {"Ref": VPC},
            "AvailabilityZone": az,
            "CidrBlock": cidr,
            "MapPublicIpOnLaunch": False,
            "Tags": [{"Key": "Name", "Value": f"{'public' if public else 'private'}-{az}"}],
        },
    }


def _route_table() -> dict[str, Any]:
    return {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": VPC}}}


def _association(table: str, subnet: str) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::SubnetRouteTableAssociation",
        "Properties": {"RouteTableId": {"Ref": table}, "SubnetId": {"Ref": subnet}},
    }


def network_resources(region: Region) -> dict[str, dict[str, Any]]:
    """VPC, per-zone public subnet with NAT gateway and Elastic IP, per-zone private subnet routed through it, the
    functions' security group and the DynamoDB (gateway) and SQS (interface) endpoints."""
    out: dict[str, dict[str, Any]] = {
        VPC: {
            "Type": "AWS::EC2::VPC",
            "Properties": {
                "CidrBlock": VPC_CIDR,
                "EnableDnsSupport": True,
                "EnableDnsHostnames": True,
                "Tags": [{"Key": "Name", "Value": region.stack_name}],
            },
        },
        "InternetGateway": {"Type": "AWS::EC2::InternetGateway", "Properties": {}},
        "InternetGatewayAttachment": {
            "Type": "AWS::EC2::VPCGatewayAttachment",
            "Properties": {"VpcId": {"Ref": VPC}, "InternetGatewayId": {"Ref": "InternetGateway"}},
        },
        "PublicRouteTable": _route_table(),
        "PublicDefaultRoute": {
            "Type": "AWS::EC2::Route",
            "DependsOn": ["InternetGatewayAttachment"],
            "Properties": {
                "RouteTableId": {"Ref": "PublicRouteTable"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": {"Ref": "InternetGateway"},
            },
        },
        LAMBDA_SECURITY_GROUP: {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "Functions that call WeCom: outbound only",
                "VpcId": {"Ref": VPC},
                "SecurityGroupEgress": [{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}],
            },
        },
        ENDPOINT_SECURITY_GROUP: {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "The SQS interface endpoint: HTTPS from the functions",
                "VpcId": {"Ref": VPC},
                "SecurityGroupIngress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": HTTPS,
                        "ToPort": HTTPS,
                        "SourceSecurityGroupId": {"Ref": LAMBDA_SECURITY_GROUP},
                    }
                ],
            },
        },
    }
    private_tables = []
    for index, az in enumerate(region.nat_azs):
        public, private, table = public_subnet_id(index), private_subnet_id(index), f"PrivateRouteTable{index + 1}"
        out[public] = _subnet(az, f"10.20.{128 + 16 * index}.0/20", public=True)
        out[f"{public}Routes"] = _association("PublicRouteTable", public)
        out[eip_id(index)] = {
            "Type": "AWS::EC2::EIP",
            "DependsOn": ["InternetGatewayAttachment"],
            "Properties": {"Domain": "vpc", "Tags": [{"Key": "Name", "Value": f"wecom-egress-{az}"}]},
        }
        out[f"NatGateway{index + 1}"] = {
            "Type": "AWS::EC2::NatGateway",
            "Properties": {
                "AllocationId": {"Fn::GetAtt": [eip_id(index), "AllocationId"]},
                "SubnetId": {"Ref": public},
            },
        }
        out[private] = _subnet(az, f"10.20.{16 * index}.0/20", public=False)
        out[table] = _route_table()
        out[f"{table}Default"] = {
            "Type": "AWS::EC2::Route",
            "Properties": {
                "RouteTableId": {"Ref": table},
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": {"Ref": f"NatGateway{index + 1}"},
            },
        }
        out[f"{private}Routes"] = _association(table, private)
        private_tables.append({"Ref": table})
    out["DynamoDbEndpoint"] = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcEndpointType": "Gateway",
            "VpcId": {"Ref": VPC},
            "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.dynamodb"},
            "RouteTableIds": private_tables,
        },
    }
    out["SqsEndpoint"] = {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcEndpointType": "Interface",
            "VpcId": {"Ref": VPC},
            "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.sqs"},
            "PrivateDnsEnabled": True,
            "SubnetIds": private_subnets(region),
            "SecurityGroupIds": [{"Ref": ENDPOINT_SECURITY_GROUP}],
        },
    }
    return out


def private_subnets(region: Region) -> list[dict[str, str]]:
    return [{"Ref": private_subnet_id(i)} for i in range(len(region.nat_azs))]


def vpc_config(region: Region) -> dict[str, Any]:
    """A function's VpcConfig: the private subnets of every zone, the functions' security group."""
    return {"SubnetIds": private_subnets(region), "SecurityGroupIds": [{"Ref": LAMBDA_SECURITY_GROUP}]}


def egress_ips(region: Region) -> dict[str, Any]:
    """The Elastic IPs, comma-separated (what `EGRESS_IPS` and the `EgressIps` output hold)."""
    return {"Fn::Join": [",", [{"Ref": eip_id(i)} for i in range(len(region.nat_azs))]]}


def network_outputs(region: Region) -> dict[str, dict[str, Any]]:
    """Each zone's egress IP, all of them together (what tenants list as trusted), and the VPC."""
    outputs: dict[str, dict[str, Any]] = {
        eip_id(i): {"Description": f"WeCom egress IP of {az}", "Value": {"Ref": eip_id(i)}}
        for i, az in enumerate(region.nat_azs)
    }
    outputs["EgressIps"] = {
        "Description": "Every WeCom egress IP of the region: each tenant lists them as its app's trusted IPs",
        "Value": egress_ips(region),
    }
    outputs["VpcId"] = {"Value": {"Ref": VPC}}
    return outputs
