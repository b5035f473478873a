"""What EC2 would answer for the `vps` stack, for the offline harness.

Addresses come from the documentation ranges (RFC 5737), so nothing offline can reach a
real machine. Every AMI lookup is kept in `AMI_LOOKUPS`, so tests can see which images the
program asked for (owner, name pattern, architecture).
"""

from __future__ import annotations

from typing import Any

ELASTIC_IP = "203.0.113.10"
INSTANCE_IP = "198.51.100.20"

HOST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockHostKeyMockHostKeyMockHostKeyMock"
HOST_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nmock\n-----END OPENSSH PRIVATE KEY-----\n"
DEPLOYED = "20250101T000000Z-mock"

AMI_LOOKUPS: list[dict[str, Any]] = []


def _ami(args: dict[str, Any]) -> dict[str, Any]:
    AMI_LOOKUPS.append(args)
    filters = {f["name"]: f["values"] for f in args.get("filters", [])}
    pattern = filters.get("name", ["debian-12-amd64-*"])[0]
    name = pattern.replace("*", "20250101-1980")
    arch = filters.get("architecture", ["x86_64"])[0]
    return {
        "id": f"ami-{name}",
        "imageId": f"ami-{name}",
        "name": name,
        "architecture": arch,
        "ownerId": (args.get("owners") or ["unknown"])[0],
        "rootDeviceName": "/dev/xvda",
    }


CALLS = {"aws:ec2/getAmi:getAmi": _ami}

OUTPUTS = {
    "aws:ec2/eip:Eip": lambda _inputs: {
        "publicIp": ELASTIC_IP,
        "allocationId": "eipalloc-0123456789abcdef0",
        "publicDns": "ec2-203-0-113-10.compute-1.amazonaws.com",
    },
    "aws:ec2/instance:Instance": lambda _inputs: {
        "publicIp": INSTANCE_IP,
        "privateIp": "172.31.0.20",
        "instanceState": "running",
    },
    "aws:ec2/keyPair:KeyPair": lambda inputs: {"keyName": inputs.get("keyName", "shipways-key")},
    "pulumi-python:dynamic/vps:HostKey": lambda _inputs: {
        "public": HOST_PUBLIC_KEY,
        "private": HOST_PRIVATE_KEY,
    },
    "pulumi-python:dynamic/vps:FabricRelease": lambda inputs: {
        "deployed": DEPLOYED,
        # A first run with a domain: the new address is not in DNS yet.
        "certificate": "pending" if inputs["settings"].get("domain") else "self-signed",
        "certificateNotice": "",
    },
}
