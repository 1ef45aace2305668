"""Plan-level checks of every environment: envs/local, envs/dev and envs/prod planned against the emulator.

Nothing is applied: each env is planned from empty state and its JSON plan is
walked resource by resource, so a queue added anywhere without its DLQ or
alarms fails here even if no module test knew about it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from serverless_patterns_ops.local_stack import emulator_backend_args

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("local", "dev", "prod")
# Which function consumes each kind of source queue (by name suffix): the
# visibility timeout must cover 6 x its timeout. A new queue must be added here.
CONSUMER_BY_QUEUE_SUFFIX = {
    "-ll-requests": "-ll-consumer",
    "-fo-subtasks": "-fo-worker",
    "-fo-subtasks-dlq": "-fo-dlq-handler",
}
# Queues no function consumes: they keep failed asynchronous invocations, and alarm.
HOLDING_QUEUE_SUFFIXES = ("-fo-failed-invocations",)
REQUIRED_TAGS = {"project", "environment", "owner", "cost-center", "module"}


def terraform(env_name: str, data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_DATA_DIR": str(data_dir), "TF_IN_AUTOMATION": "1"}
    # Each env keeps its own name and endpoint settings from its tfvars; dev and
    # prod reach the emulator the way `make plan ENV=dev` does: AWS_ENDPOINT_URL.
    env.pop("TF_VAR_name", None)
    # Planned as deployed to AWS, HTTP API included, even on an emulator without HTTP APIs.
    env.pop("TF_VAR_create_http_api", None)
    if env_name != "local":
        env.pop("TF_VAR_aws_endpoint_url", None)
    return subprocess.run(
        ["terraform", f"-chdir={REPO_ROOT / 'envs' / env_name}", *args, "-no-color"],
        env=env,
        check=check,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, dict]:
    planned = {}
    for env_name in ENVIRONMENTS:
        data_dir = tmp_path_factory.mktemp(f"tfdata-{env_name}")
        # dev and prod: their S3 backend, with its lock file, on the emulator (as `make plan` does).
        backend = emulator_backend_args(env_name, data_dir)
        terraform(env_name, data_dir, "init", "-input=false", "-lockfile=readonly", *backend)
        plan_file = data_dir / "env.tfplan"
        terraform(env_name, data_dir, "plan", "-input=false", "-refresh=false", "-lock=false", f"-out={plan_file}")
        shown = terraform(env_name, data_dir, "show", "-json", str(plan_file))
        planned[env_name] = {"plan": json.loads(shown.stdout), "data_dir": data_dir}
    return planned


def planned_resources(plan: dict, resource_type: str) -> list[dict]:
    """The planned `after` values of every resource of a type, unknown attributes marked True."""
    resources = []
    for change in plan["resource_changes"]:
        if change["type"] == resource_type and change["mode"] == "managed":
            after, unknown = change["change"]["after"] or {}, change["change"]["after_unknown"] or {}
            resources.append({**after, **{key: True for key, value in unknown.items() if value is True}})
    return resources


def alarm_watches(alarm: dict) -> set[tuple[str, str]]:
    """(metric, queue) pairs an alarm reads, through metric math too."""
    watched = {(alarm.get("metric_name"), (alarm.get("dimensions") or {}).get("QueueName"))}
    for query in alarm.get("metric_query") or []:
        for metric in query.get("metric") or []:
            watched.add((metric["metric_name"], (metric.get("dimensions") or {}).get("QueueName")))
    return watched


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_queue_has_a_dlq_and_every_alarm(plans, env_name):
    plan = plans[env_name]["plan"]
    queues = {queue["name"]: queue for queue in planned_resources(plan, "aws_sqs_queue")}
    alarms = planned_resources(plan, "aws_cloudwatch_metric_alarm")
    watched = set().union(*(alarm_watches(alarm) for alarm in alarms))
    holding = [name for name in queues if name.endswith(HOLDING_QUEUE_SUFFIXES)]
    sources = [name for name in queues if not name.endswith("-dlq") and name not in holding]

    assert len(sources) == 2, f"{env_name}: expected the request and subtask queues, found {sorted(queues)}"
    assert len(holding) == 1, f"{env_name}: expected the failed-invocations queue, found {sorted(queues)}"
    for name in holding:
        assert ("ApproximateNumberOfMessagesVisible", name) in watched, f"{env_name}: no alarm watches {name}"
    for name in sources:
        dlq = queues.get(f"{name}-dlq")
        assert dlq is not None, f"{env_name}: {name} has no dead-letter queue"
        assert queues[name]["redrive_policy"], f"{env_name}: {name} does not redrive to its DLQ"
        assert dlq["message_retention_seconds"] > queues[name]["message_retention_seconds"], (
            f"{env_name}: {name}-dlq must keep messages longer than {name}"
        )
        for metric in (
            "ApproximateNumberOfMessagesVisible",
            "ApproximateAgeOfOldestMessage",
            "NumberOfMessagesSent",
            "NumberOfMessagesDeleted",
        ):
            assert (metric, name) in watched, f"{env_name}: no alarm watches {metric} of {name}"
        assert ("ApproximateNumberOfMessagesVisible", f"{name}-dlq") in watched, f"{env_name}: no DLQ alarm on {name}"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_function_has_error_and_throttle_alarms_and_every_alarm_announces_recovery(plans, env_name):
    plan = plans[env_name]["plan"]
    functions = {function["function_name"]: function for function in planned_resources(plan, "aws_lambda_function")}
    alarms = planned_resources(plan, "aws_cloudwatch_metric_alarm")
    lambda_alarms = {
        (alarm["metric_name"], alarm["dimensions"]["FunctionName"])
        for alarm in alarms
        if alarm.get("namespace") == "AWS/Lambda"
    }

    for name in functions:
        assert {("Errors", name), ("Throttles", name)} <= lambda_alarms, f"{env_name}: {name} lacks an alarm"
    for alarm in alarms:
        # The alert topic's ARN is known only after apply: planned as unknown (True).
        assert alarm["alarm_actions"], f"{env_name}: {alarm['alarm_name']} notifies nobody"
        assert alarm["ok_actions"], f"{env_name}: {alarm['alarm_name']} announces no recovery"
        assert "Runbook: https://" in alarm["alarm_description"], (
            f"{env_name}: {alarm['alarm_name']} does not link the runbook"
        )


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_visibility_timeouts_cover_six_consumer_timeouts(plans, env_name):
    plan = plans[env_name]["plan"]
    timeouts = {
        function["function_name"]: function["timeout"] for function in planned_resources(plan, "aws_lambda_function")
    }
    for queue in planned_resources(plan, "aws_sqs_queue"):
        if queue["name"].endswith("-dlq") and not queue["name"].endswith(tuple(CONSUMER_BY_QUEUE_SUFFIX)):
            continue  # a DLQ no function consumes
        if queue["name"].endswith(HOLDING_QUEUE_SUFFIXES):
            continue
        suffix = next((suffix for suffix in CONSUMER_BY_QUEUE_SUFFIX if queue["name"].endswith(suffix)), None)
        assert suffix, f"{env_name}: {queue['name']} is not in CONSUMER_BY_QUEUE_SUFFIX: say which function consumes it"
        consumer = queue["name"].removesuffix(suffix) + CONSUMER_BY_QUEUE_SUFFIX[suffix]
        assert queue["visibility_timeout_seconds"] >= 6 * timeouts[consumer], f"{env_name}: {queue['name']}"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_one_encrypted_alert_topic_and_one_dashboard_per_environment(plans, env_name):
    plan = plans[env_name]["plan"]
    topics = [topic for topic in planned_resources(plan, "aws_sns_topic") if topic["name"].endswith("-alerts")]
    dashboards = planned_resources(plan, "aws_cloudwatch_dashboard")

    assert len(topics) == 1, f"{env_name}: expected one alert topic, found {[topic['name'] for topic in topics]}"
    assert topics[0]["kms_master_key_id"], f"{env_name}: the alert topic is not encrypted"
    # Its body lists alarm ARNs, known only after apply: test_monitoring checks the deployed one.
    assert len(dashboards) == 1


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_taggable_resource_carries_the_stack_tags(plans, env_name):
    plan = plans[env_name]["plan"]
    for change in plan["resource_changes"]:
        after = change["change"]["after"] or {}
        if change["mode"] == "managed" and isinstance(after.get("tags_all"), dict):
            missing = REQUIRED_TAGS - after["tags_all"].keys()
            assert not missing, f"{env_name}: {change['address']} lacks tags {sorted(missing)}"
            assert after["tags_all"]["environment"] == env_name


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_http_api_takes_only_signed_requests_and_every_data_store_is_encrypted(plans, env_name):
    plan = plans[env_name]["plan"]
    routes = planned_resources(plan, "aws_apigatewayv2_route")
    assert {route["route_key"]: route["authorization_type"] for route in routes} == {
        "POST /requests": "AWS_IAM",
        "POST /jobs": "AWS_IAM",
        "GET /jobs/{job_id}": "AWS_IAM",
        "DELETE /jobs/{job_id}": "AWS_IAM",
        "PATCH /jobs/{job_id}": "AWS_IAM",
    }
    for queue in planned_resources(plan, "aws_sqs_queue"):
        assert queue["sqs_managed_sse_enabled"] or queue["kms_master_key_id"], f"{env_name}: {queue['name']}"
        assert '"aws:SecureTransport"' in queue["policy"], f"{env_name}: {queue['name']} accepts plain HTTP"
    for topic in planned_resources(plan, "aws_sns_topic"):
        assert topic["kms_master_key_id"], f"{env_name}: {topic['name']} is not encrypted"
    for table in planned_resources(plan, "aws_dynamodb_table"):
        assert table["server_side_encryption"][0]["enabled"], f"{env_name}: {table['name']}"
    assert planned_resources(plan, "aws_s3_bucket_server_side_encryption_configuration")
    (public_access,) = planned_resources(plan, "aws_s3_bucket_public_access_block")
    assert all(
        public_access[flag]
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    for policy in planned_resources(plan, "aws_s3_bucket_policy") + planned_resources(plan, "aws_sns_topic_policy"):
        assert policy["policy"] is True or '"aws:SecureTransport"' in policy["policy"]


def test_prod_protects_its_data_and_dev_does_not(plans):
    for env_name, protected in (("prod", True), ("dev", False)):
        tables = planned_resources(plans[env_name]["plan"], "aws_dynamodb_table")
        assert tables
        for table in tables:
            assert table["deletion_protection_enabled"] is protected, f"{env_name}: {table['name']}"
            assert table["point_in_time_recovery"][0]["enabled"] is protected, f"{env_name}: {table['name']}"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("load_leveler={queue={depth_alarm_threshold=0}}", "depth_alarm_threshold must be at least 1"),
        ("fan_out={queue={growth_alarm_threshold=0}}", "growth_alarm_threshold must be at least 1 message per period"),
        (
            "fan_out={queue={message_retention_seconds=1209600}}",
            "dlq_message_retention_seconds must be greater than message_retention_seconds",
        ),
        (
            "load_leveler={queue={age_alarm_threshold_seconds=400000}}",
            "age_alarm_threshold_seconds must be greater than 0 and less than message_retention_seconds",
        ),
        ('alerts={email_addresses=["oncall"]}', "email_addresses must hold email addresses"),
    ],
)
def test_bad_settings_are_rejected_with_a_message_naming_the_fix(plans, setting, message):
    result = terraform(
        "dev",
        plans["dev"]["data_dir"],
        "plan",
        "-input=false",
        "-refresh=false",
        "-lock=false",
        "-var",
        setting,
        check=False,
    )

    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr
