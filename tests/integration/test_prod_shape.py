"""The prod configuration with real ARNs, for the IAM check: envs/prod applied to the emulator with a customer
managed KMS key and a permissions boundary, dumped (shape "prod") and destroyed.

Terraform cannot render the stack's IAM policies from a plan: they name ARNs known only after apply. So this
applies a copy of envs/prod (its .tf files, terraform.tfvars and workloads; a local backend instead of S3) with
zz_iam_check.auto.tfvars.json setting only what the emulator needs, and writes build/iam/stacks/<name>.json
with the boundary's and the key's policy documents (tests/iam_check/prod_shape/). The IAM check
(tests/iam_eval) maps the calls the suite recorded on its local stacks onto these ARNs and evaluates them
against these policies.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_terraform import tf

from iam_check.stack import Stack
from integration.conftest import ENDPOINT, REPO_ROOT, RUN_NAME, write_stack_dump

# Prod creates its HTTP APIs (LocalStack Community has none), and the IAM check it feeds runs after the
# MiniStack suite (`make test-integration`), not after the LocalStack lane.
pytestmark = pytest.mark.http_api

PROD_ENV = REPO_ROOT / "envs" / "prod"
POLICY_TEMPLATES = REPO_ROOT / "tests" / "iam_check" / "prod_shape"
PROD_NAME = f"{RUN_NAME}p"
# What a copy of envs/prod needs: its Terraform files (the symbolic links into envs/shared resolved), its
# variables and its provider lock. backend.hcl and anything Terraform left there are not copied.
PROD_FILES = ("*.tf", "*.tfvars", "*.tfvars.json", ".terraform.lock.hcl")
BACKEND_OVERRIDE = """# The S3 backend of envs/prod replaced by the local one: this copy's state stays with the test.
terraform {
  backend "local" {}
}
"""


def prod_region() -> str:
    """The region envs/prod/terraform.tfvars sets: its key and its ARNs are in that region, as on AWS."""
    found = re.search(r'^region\s*=\s*"([a-z0-9-]+)"', (PROD_ENV / "terraform.tfvars").read_text(), re.MULTILINE)
    return found[1] if found else "us-east-1"


def templated_policy(name: str, account: str, region: str) -> dict[str, Any]:
    """A policy document of tests/iam_check/prod_shape with ${account} and ${region} filled in."""
    text = (POLICY_TEMPLATES / name).read_text()
    return json.loads(string.Template(text).substitute(account=account, region=region))


def prod_copy(workspace: Path, settings: dict[str, Any]) -> Path:
    """envs/prod copied to <workspace>/envs/prod_shape, with <workspace>/modules linked to the repository's, so
    the root's relative module sources (../../modules/...) resolve as they do in envs/prod."""
    (workspace / "modules").symlink_to(REPO_ROOT / "modules")
    root = workspace / "envs" / "prod_shape"
    root.mkdir(parents=True)
    for pattern in PROD_FILES:
        for source in PROD_ENV.glob(pattern):
            shutil.copyfile(source, root / source.name)  # follows the links into envs/shared
    (root / "backend_override.tf").write_text(BACKEND_OVERRIDE)
    (root / "zz_iam_check.auto.tfvars.json").write_text(json.dumps(settings, indent=2))
    return root


@dataclass(frozen=True)
class ProdShape:
    dump: Path
    boundary_arn: str
    key_arn: str
    key_policy: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """Each managed resource of this type by address, with its attributes: the dump, as the IAM check reads it."""
        return {resource.address: resource.attributes for resource in Stack.load(self.dump).resources(resource_type)}


@pytest.fixture(scope="module")
def prod_shape(tmp_path_factory) -> Iterator[ProdShape]:
    region = prod_region()
    account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
    boundary = templated_policy("permissions_boundary.json", account, region)
    key_policy = templated_policy("key_policy.json", account, region)
    iam, kms = boto3.client("iam", region_name=region), boto3.client("kms", region_name=region)
    workspace = tmp_path_factory.mktemp("prod-shape")
    # Undone last made first: the stack is destroyed before its key and its boundary go.
    with contextlib.ExitStack() as undo:
        boundary_arn = iam.create_policy(
            PolicyName=f"{PROD_NAME}-boundary",
            PolicyDocument=json.dumps(boundary),
            Description="The organisation's permissions boundary the prod stack's roles carry (IAM check)",
        )["Policy"]["Arn"]
        undo.callback(iam.delete_policy, PolicyArn=boundary_arn)
        key_arn = kms.create_key(
            Policy=json.dumps(key_policy), Description=f"{PROD_NAME}: the stack's queues and topics (IAM check)"
        )["KeyMetadata"]["Arn"]
        undo.callback(kms.schedule_key_deletion, KeyId=key_arn, PendingWindowInDays=7)
        root = prod_copy(
            workspace,
            {
                "name": PROD_NAME,
                "aws_endpoint_url": ENDPOINT,
                "lambda_build_dir": str(REPO_ROOT / "build" / "lambda"),
                "permissions_boundary_arn": boundary_arn,
                "kms_key_arn": key_arn,
                # Deletion protection off, so the emulator's stack can be destroyed; no IAM policy depends on
                # it (a table's refusal to be deleted is its own setting). The rest is prod's.
                "data_protection": {
                    "point_in_time_recovery": True,
                    "deletion_protection": False,
                    "bucket_versioning": True,
                },
                # As envs/local sets them: no X-Ray daemon runs beside the emulator.
                "environment_variables": {"POWERTOOLS_TRACE_DISABLED": "true"},
                # The workloads of the zips it deploys (`make package` builds envs/local's): the IAM check
                # maps the local stacks' calls onto this one, and a workload's grants follow its settings
                # (a resumable one's checkpoints/), so both stacks must run the same workloads.
                **json.loads((REPO_ROOT / "envs" / "local" / "workloads.auto.tfvars.json").read_text()),
            },
        )
        runner = tf.TerraformRunner(
            str(workspace / "work"),
            module_dir=str(root),
            plugin_cache=tf.LazyPluginCacheDir.resolve(False),
            tf_bin=tf.LazyTfBin.resolve(),
        )
        runner.init()
        undo.callback(runner.destroy)
        runner.apply()  # destroys what it created if it fails
        state = json.loads(Path(runner.state_path).read_text())
        dump = write_stack_dump(PROD_NAME, "prod", state, {boundary_arn: boundary, key_arn: key_policy})
        yield ProdShape(dump=dump, boundary_arn=boundary_arn, key_arn=key_arn, key_policy=key_policy)


def test_every_role_of_the_prod_shape_carries_the_permissions_boundary(prod_shape):
    roles = prod_shape.resources("aws_iam_role")
    functions = prod_shape.resources("aws_lambda_function")

    assert len(functions) >= 8
    assert {function["role"] for function in functions.values()} <= {role["arn"] for role in roles.values()}
    assert {address: role["permissions_boundary"] for address, role in roles.items()} == dict.fromkeys(
        roles, prod_shape.boundary_arn
    )


def test_the_queues_and_the_job_events_topic_are_encrypted_with_the_stack_key(prod_shape):
    queues = {queue["name"]: queue for queue in prod_shape.resources("aws_sqs_queue").values()}
    topics = {topic["name"]: topic for topic in prod_shape.resources("aws_sns_topic").values()}
    # fan_out keeps failed asynchronous invocations in an SSE-SQS queue, so its senders need no key grant.
    failed_invocations = f"{PROD_NAME}-fo-failed-invocations"

    assert {name: queue["kms_master_key_id"] for name, queue in queues.items() if name != failed_invocations} == {
        name: prod_shape.key_arn for name in queues if name != failed_invocations
    }
    assert len(queues) >= 5  # the load leveler's and the fan-out's queues, their DLQs, the failed invocations
    assert queues[failed_invocations]["sqs_managed_sse_enabled"] is True
    job_events = [topic for name, topic in topics.items() if name.endswith("-job-events")]
    assert [topic["kms_master_key_id"] for topic in job_events] == [prod_shape.key_arn]


def test_the_dump_holds_the_prod_state_and_the_policies_made_outside_terraform(prod_shape):
    dump = json.loads(prod_shape.dump.read_text())
    stored_key_policy = boto3.client("kms", region_name=prod_region()).get_key_policy(
        KeyId=prod_shape.key_arn, PolicyName="default"
    )["Policy"]

    assert (dump["name"], dump["shape"], dump["region"]) == (PROD_NAME, "prod", prod_region())
    assert dump["state"]["version"] == 4
    assert set(dump["extra_policies"]) == {prod_shape.boundary_arn, prod_shape.key_arn}
    assert json.loads(stored_key_policy) == dump["extra_policies"][prod_shape.key_arn]
