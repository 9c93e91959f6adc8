"""`make deploy`'s driver: the real commands in order, and a clear refusal before any of them when something a
deploy needs is missing."""

from __future__ import annotations

import pytest

from infra import deploy
from infra.regions import load_regions

REGION = load_regions()[0]


def test_a_dry_run_prints_build_package_upload_deploy_and_outputs_in_order(capsys):
    assert deploy.main(["--region", REGION.region, "--bucket", "artifacts-hk", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[2:4] == ["-m", "infra.build"]
    assert "package --stage prod --merge-template build/regions/ap-east-1/merge.json" in lines[1]
    assert "aws cloudformation package" in lines[2]
    assert "--s3-bucket artifacts-hk" in lines[2]
    assert f"aws cloudformation deploy --region ap-east-1 --stack-name {REGION.stack_name}" in lines[3]
    assert "EgressIps" in lines[4]


def test_without_credentials_the_deploy_stops_before_running_anything(monkeypatch, capsys, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(deploy.subprocess, "run", pytest.fail)
    assert deploy.main(["--region", REGION.region, "--bucket", "artifacts-hk"]) == 2
    assert "deploy refused: no AWS credentials for ap-east-1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--region", "eu-west-1", "--bucket", "b"], "eu-west-1 is not listed in regions.json"),
        (["--region", REGION.region], "name an S3 artifact bucket in ap-east-1"),
    ],
)
def test_an_unlisted_region_or_a_missing_bucket_is_refused(argv, reason, monkeypatch, capsys):
    monkeypatch.setattr(deploy.subprocess, "run", pytest.fail)
    assert deploy.main(argv) == 2
    assert reason in capsys.readouterr().err
