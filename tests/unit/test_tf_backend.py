"""The remote-state bucket: created once, versioned, encrypted and private; backend.hcl read as written."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("tf_backend", REPO_ROOT / "scripts" / "tf_backend.py")
tf_backend = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tf_backend)


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_each_remote_env_names_its_own_state_with_the_s3_lock_file(env_name):
    settings = tf_backend.backend_settings(REPO_ROOT / "envs" / env_name)

    assert settings["bucket"] == f"serverless-patterns-tfstate-{env_name}"
    assert f"/{env_name}/" in settings["key"]
    assert settings["use_lockfile"] is True
    assert settings["encrypt"] is True


def test_an_env_without_remote_state_is_refused_with_the_reason():
    with pytest.raises(SystemExit, match="only environments with remote state"):
        tf_backend.backend_settings(REPO_ROOT / "envs" / "local")


def test_the_state_bucket_is_created_once_versioned_encrypted_and_private(aws):
    s3 = boto3.client("s3", region_name="eu-west-1")

    assert tf_backend.ensure_bucket(s3, "state-bucket", "eu-west-1") is True
    assert tf_backend.ensure_bucket(s3, "state-bucket", "eu-west-1") is False

    assert s3.get_bucket_versioning(Bucket="state-bucket")["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket="state-bucket")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket="state-bucket")["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_location(Bucket="state-bucket")["LocationConstraint"] == "eu-west-1"
