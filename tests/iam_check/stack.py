"""One applied Terraform root, read from its dump: its resources, functions, encryption and shape.

A dump (build/iam/stacks/<name>.json, written by the integration suite's conftest) holds the raw
terraform.tfstate of the root as applied and the policy documents made outside Terraform
(`extra_policies`: the prod shape's permissions boundary and KMS key policy, by ARN). Everything
here reads that state as Terraform rendered it: the policies evaluated are the ones deployed.

Stack builds on names.py (the ARNs of its names) and policies.py (the policies in play); translation.py
maps a call onto another shape of the same root.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from iam_check import translation
from iam_check.model import PolicyDocument, RecordedCall
from iam_check.names import FunctionName, StackError, StackNames, arn_parts, queue_url_parts
from iam_check.policies import StackPolicies, parse_document

# services.py and the tests import these from here; some are defined in names.py and policies.py.
__all__ = ["FunctionName", "Resource", "Stack", "StackError", "arn_parts", "parse_document"]


@dataclass(frozen=True)
class Resource:
    """One instance of a managed resource in the state."""

    address: str  # module.fan_out.module.queue.aws_sqs_queue.this
    type: str  # aws_sqs_queue
    attributes: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.attributes.get(name)
        return default if value is None else value


# The attributes that identify each kind of resource, as calls name them (name, URL or ARN).
IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "aws_s3_bucket": ("bucket", "arn"),
    "aws_sqs_queue": ("name", "url", "arn"),
    "aws_dynamodb_table": ("name", "arn"),
    "aws_lambda_function": ("function_name", "arn"),
    "aws_sns_topic": ("arn", "name"),
    "aws_kms_key": ("arn", "key_id"),
    "aws_kms_alias": ("name", "arn"),
    "aws_cloudwatch_log_group": ("name", "arn"),
    "aws_apigatewayv2_api": ("id", "api_endpoint", "execution_arn"),
    "aws_iam_role": ("name", "arn"),
    "aws_iam_policy": ("arn",),
    "aws_cloudwatch_event_rule": ("arn", "name"),
    "aws_cloudwatch_event_bus": ("arn", "name"),
    "aws_cloudwatch_metric_alarm": ("arn", "alarm_name"),
}

# The resource type an ARN's service (and resource prefix) names.
ARN_TYPES: dict[str, tuple[str, ...]] = {
    "s3": ("aws_s3_bucket",),
    "sqs": ("aws_sqs_queue",),
    "dynamodb": ("aws_dynamodb_table",),
    "lambda": ("aws_lambda_function",),
    "sns": ("aws_sns_topic",),
    "kms": ("aws_kms_key", "aws_kms_alias"),
    "logs": ("aws_cloudwatch_log_group",),
    "iam": ("aws_iam_role", "aws_iam_policy"),
    "events": ("aws_cloudwatch_event_rule", "aws_cloudwatch_event_bus"),
    "cloudwatch": ("aws_cloudwatch_metric_alarm",),
}

# Keys of AWS managed encryption: they need no grant in our policies (the services hold it).
AWS_MANAGED_KEY = re.compile(r"(^|:)alias/aws/")

# Terraform's provider, told to skip_requesting_account_id (as it is on an emulator), renders
# execute-api ARNs without the account ("arn:aws:execute-api:us-east-1::abc123"). On AWS they always
# hold it, and iam-simulate refuses an execute-api ARN without one: the dump is read as AWS renders it.
ACCOUNTLESS_EXECUTE_API = re.compile(r"(arn:aws[a-z-]*:execute-api:[a-z0-9-]+)::")


def resource_address(resource: Mapping[str, Any], instance: Mapping[str, Any]) -> str:
    module = f"{resource['module']}." if resource.get("module") else ""
    index = instance.get("index_key")
    suffix = "" if index is None else f"[{json.dumps(index)}]"
    return f"{module}{resource['type']}.{resource['name']}{suffix}"


class Stack(StackNames, StackPolicies):
    """One applied root: `Stack.load(path)` reads its dump."""

    def __init__(
        self,
        name: str,
        shape: str,
        account: str,
        region: str,
        state: Mapping[str, Any],
        extra_policies: Mapping[str, PolicyDocument] | None = None,
    ) -> None:
        self.name = name
        self.shape = shape
        self.account = account
        self.region = region
        self.state = json.loads(ACCOUNTLESS_EXECUTE_API.sub(rf"\1:{account}:", json.dumps(state)))
        self.extra_policies = dict(extra_policies or {})

    @classmethod
    def load(cls, path: Path | str) -> Stack:
        dump = json.loads(Path(path).read_text())
        return cls(
            name=dump["name"],
            shape=dump["shape"],
            account=dump["account"],
            region=dump["region"],
            state=dump["state"],
            extra_policies=dump.get("extra_policies") or {},
        )

    def __repr__(self) -> str:
        return f"Stack({self.name!r}, shape={self.shape!r})"

    # -- the state's resources --------------------------------------------------------------------------

    @cached_property
    def _resources(self) -> tuple[Resource, ...]:
        found = []
        for resource in self.state.get("resources", []):
            if resource.get("mode") != "managed":
                continue
            for instance in resource.get("instances", []):
                found.append(Resource(resource_address(resource, instance), resource["type"], instance["attributes"]))
        return tuple(found)

    @cached_property
    def _by_type(self) -> dict[str, list[Resource]]:
        index: dict[str, list[Resource]] = {}
        for resource in self._resources:
            index.setdefault(resource.type, []).append(resource)
        return index

    def resources(self, *types: str) -> list[Resource]:
        return [resource for kind in types for resource in self._by_type.get(kind, [])]

    @cached_property
    def _by_address(self) -> dict[str, Resource]:
        return {resource.address: resource for resource in self._resources}

    def resource_at(self, address: str) -> Resource | None:
        """The resource at this Terraform address (translation.py finds a counterpart by its address)."""
        return self._by_address.get(address)

    @cached_property
    def _identifiers(self) -> dict[tuple[str, str], list[tuple[Resource, str]]]:
        """(type, identifier value) -> [(resource, the attribute holding it)]."""
        index: dict[tuple[str, str], list[tuple[Resource, str]]] = {}
        for resource in self._resources:
            for attribute in IDENTIFIERS.get(resource.type, ()):
                value = resource.get(attribute)
                if isinstance(value, str) and value:
                    index.setdefault((resource.type, value), []).append((resource, attribute))
        return index

    def find(self, value: str, types: Iterable[str] | None = None) -> tuple[Resource, str] | None:
        """The resource one of whose identifiers (name, URL, ARN) is `value`, with that attribute's name."""
        if types is None:
            types = ARN_TYPES.get(arn_parts(value)[1], ()) if value.startswith("arn:") else IDENTIFIERS
        matches = [match for kind in types for match in self._identifiers.get((kind, value), [])]
        if not matches and "aws_sqs_queue" in types and value.startswith(("http://", "https://")):
            matches = self._queue_by_url(value)
        if len({resource.address for resource, _ in matches}) > 1:
            addresses = ", ".join(sorted({resource.address for resource, _ in matches}))
            raise StackError(f"{value!r} names more than one resource of stack {self.name}: {addresses}")
        return matches[0] if matches else None

    def _queue_by_url(self, url: str) -> list[tuple[Resource, str]]:
        # The emulator answers queue URLs in more than one form (its own host, sqs.<region>.localhost...):
        # a queue is its account and name, the last two segments of any of them.
        account, name = queue_url_parts(url)
        return [
            (queue, "url")
            for queue in self.resources("aws_sqs_queue")
            if queue.get("name") == name and arn_parts(queue.get("arn"))[3] == account
        ]

    def address_of(self, name_or_arn: str, types: Iterable[str] | None = None) -> str:
        """The Terraform resource address that owns this name, URL or ARN (StackError when none does)."""
        found = self.find(name_or_arn, types)
        if found is None:
            raise StackError(f"no resource of stack {self.name} is named {name_or_arn!r}")
        return found[0].address

    def has_output(self, name: str) -> bool:
        return name in self.state.get("outputs", {})

    def output(self, name: str) -> Any:
        """A root output's value; a string holding a JSON document (a policy rendered by jsonencode) parsed."""
        if not self.has_output(name):
            raise StackError(f"stack {self.name} has no output {name!r}")
        value = self.state["outputs"][name]["value"]
        if isinstance(value, str) and value.lstrip().startswith("{"):
            return json.loads(value)
        return value

    # -- functions --------------------------------------------------------------------------------------

    def function_names(self) -> list[str]:
        return sorted(function.get("function_name") for function in self.resources("aws_lambda_function"))

    def function(self, name_or_arn: str) -> Resource:
        parsed = FunctionName.parse(name_or_arn)
        found = self.find(parsed.name, ["aws_lambda_function"])
        if found is None:
            raise StackError(f"stack {self.name} has no function {parsed.name!r}")
        return found[0]

    def role_arn(self, function_name: str) -> str:
        return self.function(function_name).get("role")

    def function_arn(self, name_or_arn: str, qualifier: str = "", region: str | None = None) -> str:
        """The function's ARN, qualified when a qualifier is given (in the name or apart)."""
        parsed = FunctionName.parse(name_or_arn)
        found = self.find(parsed.name, ["aws_lambda_function"])
        if found is not None:
            arn = found[0].get("arn")
        else:
            region, account = parsed.region or region or self.region, parsed.account or self.account
            arn = f"arn:aws:lambda:{region}:{account}:function:{parsed.name}"
        qualifier = qualifier or parsed.qualifier
        return f"{arn}:{qualifier}" if qualifier else arn

    def log_group(self, function_name: str) -> str:
        function = self.function(function_name)
        configured = [
            config.get("log_group") for config in function.get("logging_config", []) if config.get("log_group")
        ]
        return configured[0] if configured else f"/aws/lambda/{function.get('function_name')}"

    def tracing_active(self, function_name: str) -> bool:
        return any(config.get("mode") == "Active" for config in self.function(function_name).get("tracing_config", []))

    def dead_letter_target(self, function_name: str) -> str | None:
        targets = [config.get("target_arn") for config in self.function(function_name).get("dead_letter_config", [])]
        return next((target for target in targets if target), None)

    def event_sources(self, function_name: str) -> list[str]:
        """The event source ARNs of the function's event source mappings (queues, streams) that Lambda polls."""
        function = self.function(function_name)
        return sorted(
            mapping.get("event_source_arn")
            for mapping in self.resources("aws_lambda_event_source_mapping")
            if self._names_function(mapping.get("function_arn") or mapping.get("function_name"), function)
            and mapping.get("event_source_arn")
        )

    def destinations(self, function_name: str) -> list[tuple[str, str]]:
        """(on_failure | on_success, destination ARN) of the function's asynchronous invocation config."""
        function = self.function(function_name)
        found = []
        for config in self.resources("aws_lambda_function_event_invoke_config"):
            if not self._names_function(config.get("function_name"), function):
                continue
            for destination_config in config.get("destination_config", []):
                for outcome in ("on_failure", "on_success"):
                    for destination in destination_config.get(outcome, []):
                        if destination.get("destination"):
                            found.append((outcome, destination["destination"]))
        return found

    def _names_function(self, reference: str | None, function: Resource) -> bool:
        return bool(reference) and FunctionName.parse(reference).name == function.get("function_name")

    # -- encryption -------------------------------------------------------------------------------------

    def encryption_key(self, arn: str) -> str | None:
        """The customer managed KMS key protecting this queue, topic, bucket (default encryption) or table.

        None for SSE-SQS, SSE-S3, AWS managed keys (alias/aws/*) and AWS owned keys: the service holds
        those grants itself, so no policy of ours needs to name them.
        """
        service, resource = arn_parts(arn)[1], arn_parts(arn)[4]
        if service == "sqs":
            found = self.find(arn, ["aws_sqs_queue"])
            return self.customer_key(found[0].get("kms_master_key_id")) if found else None
        if service == "sns":
            found = self.find(arn, ["aws_sns_topic"])
            return self.customer_key(found[0].get("kms_master_key_id")) if found else None
        if service == "s3":
            return self._bucket_key(resource.split("/", 1)[0])
        if service == "dynamodb":
            table_arn = arn.split("/index/", 1)[0].split("/stream/", 1)[0]
            found = self.find(table_arn, ["aws_dynamodb_table"])
            if found is None:
                return None
            encryption = [sse for sse in found[0].get("server_side_encryption", []) if sse.get("enabled")]
            return self.customer_key(encryption[0].get("kms_key_arn")) if encryption else None
        return None

    def _bucket_key(self, bucket: str) -> str | None:
        rules = [
            rule
            for configuration in self.resources("aws_s3_bucket_server_side_encryption_configuration")
            if configuration.get("bucket") == bucket
            for rule in configuration.get("rule", [])
        ]
        found = self.find(bucket, ["aws_s3_bucket"])
        if not rules and found is not None:
            rules = [
                rule
                for configuration in found[0].get("server_side_encryption_configuration", [])
                for rule in configuration.get("rule", [])
            ]
        for rule in rules:
            for default in rule.get("apply_server_side_encryption_by_default", []):
                if default.get("sse_algorithm", "").startswith("aws:kms"):
                    return self.customer_key(default.get("kms_master_key_id"))
        return None

    def customer_key(self, reference: str | None) -> str | None:
        """The key's ARN when `reference` names a customer managed key; None for none or an AWS managed one."""
        if not reference or AWS_MANAGED_KEY.search(reference):
            return None
        return self.key_arn(reference)

    # -- triggers' sources ------------------------------------------------------------------------------

    def arns(self) -> list[str]:
        """Every ARN of the stack's resources, and a concrete execute-api ARN per route: candidate sources."""
        found = {resource.get("arn") for resource in self._resources if isinstance(resource.get("arn"), str)}
        found |= {self.bucket_arn(bucket.get("bucket")) for bucket in self.resources("aws_s3_bucket")}
        found |= set(self.api_route_arns())
        return sorted(arn for arn in found if arn and arn.startswith("arn:"))

    def alarms_notifying(self, topic_arn: str) -> list[str]:
        return sorted(
            alarm.get("arn")
            for alarm in self.resources("aws_cloudwatch_metric_alarm")
            if topic_arn in [*alarm.get("alarm_actions", []), *alarm.get("ok_actions", [])]
        )

    def dlq_sources(self, dlq_arn: str) -> list[str]:
        """The queues whose redrive policy moves their messages into this DLQ."""
        sources = []
        for queue in self.resources("aws_sqs_queue"):
            redrive = parse_document(queue.get("redrive_policy")) or {}
            if redrive.get("deadLetterTargetArn") == dlq_arn:
                sources.append(queue.get("arn"))
        return sorted(sources)

    # -- another shape of the same root -----------------------------------------------------------------

    def translate(self, call: RecordedCall, to: Stack) -> RecordedCall:
        """The same call made on the other stack (translation.translate)."""
        return translation.translate(call, self, to)

    def owns(self, call: RecordedCall) -> bool:
        """Whether the call names a resource of this stack (a caller's calls are matched to stacks so)."""
        return translation.owns(self, call)
