"""`make deploy REGION=...`: the real commands that put one region's stack on AWS, run in order.

1. `python -m infra.build --region R --out build/regions/R` (the merge template);
2. `chalice package --stage S --merge-template .../merge.json .../package` (code zip and SAM template);
3. `aws cloudformation package` (uploads the zip to the region's artifact bucket);
4. `aws cloudformation deploy` (stack `qiwei-reach-<stage>-<region>`, IAM and auto-expand capabilities);
5. `aws cloudformation describe-stacks` (prints the egress IPs and the API's URL).

Before the first command it checks what would make a later one fail half-way: the region is listed, an artifact
bucket is named, AWS credentials are found, the `aws` CLI is installed; it stops with the reason otherwise.
`--dry-run` prints the commands without running them (and without those checks).

    python -m infra.deploy --region ap-east-1 --bucket <artifact bucket in that region> [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3

from infra.regions import Region, RegionConfigError, find_region
from local.api_server import PROJECT_DIR


class DeployRefused(RuntimeError):
    """Something a deploy needs is missing; nothing was run."""


def commands(region: Region, bucket: str) -> list[list[str]]:
    """The deploy's commands for `region`, in order."""
    folder = Path("build") / "regions" / region.region
    python = sys.executable
    chalice = str(Path(python).with_name("chalice"))
    stack = ["--region", region.region, "--stack-name", region.stack_name]
    return [
        [python, "-m", "infra.build", "--region", region.region, "--out", str(folder)],
        [chalice, "package", "--stage", region.stage, "--merge-template", str(folder / "merge.json"),
         str(folder / "package")],
        ["aws", "cloudformation", "package", "--region", region.region,
         "--template-file", str(folder / "package" / "sam.json"), "--s3-bucket", bucket,
         "--output-template-file", str(folder / "packaged.yaml")],
        ["aws", "cloudformation", "deploy", *stack, "--template-file", str(folder / "packaged.yaml"),
         "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND", "--no-fail-on-empty-changeset"],
        ["aws", "cloudformation", "describe-stacks", *stack, "--output", "table",
         "--query", "Stacks[0].Outputs[?OutputKey=='EgressIps' || OutputKey=='EndpointURL']"],
    ]  # fmt: skip


def check_ready(region: Region, bucket: str) -> None:
    """Raise DeployRefused naming the first missing thing: bucket, credentials, `aws` CLI."""
    if not bucket:
        raise DeployRefused(f"name an S3 artifact bucket in {region.region} (ARTIFACT_BUCKET=...)")
    if boto3.Session(region_name=region.region).get_credentials() is None:
        raise DeployRefused(
            f"no AWS credentials for {region.region}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if shutil.which("aws") is None:
        raise DeployRefused("the AWS CLI (`aws`) is not installed; it uploads the code and deploys the stack")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description="Deploy one region's stack.")
    parser.add_argument("--region", required=True, help="a region listed in infra/regions.json")
    parser.add_argument("--bucket", default="", help="S3 bucket in that region for the code artifacts")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    try:
        region = find_region(args.region)
        planned = commands(region, args.bucket or "<artifact bucket>")
        if not args.dry_run:
            check_ready(region, args.bucket)
    except (RegionConfigError, DeployRefused) as refused:
        print(f"deploy refused: {refused}", file=sys.stderr)
        return 2
    env = {**os.environ, "AWS_DEFAULT_REGION": region.region}
    for command in planned:
        print("+ " + " ".join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, cwd=PROJECT_DIR, env=env, check=True)  # noqa: S603 - fixed argument lists
    return 0


if __name__ == "__main__":
    sys.exit(main())
