"""One applied Terraform root, read from its dump: its policies, its names and ARNs, and its shape.

A dump (build/iam/stacks/<name>.json, written by the integration suite's conftest) holds the raw
terraform.tfstate of the root as applied and the policy documents made outside Terraform
(`extra_policies`: the prod shape's permissions boundary and KMS key policy, by ARN). Everything
here reads that state as Terraform rendered it: the policies evaluated are the ones deployed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from iam_check.model import NamedPolicy, PolicyDocument, RecordedCall


class StackError(LookupError):
    """The dump lacks something the check needs: a policy document, a resource, its counterpart."""


@dataclass(frozen=True)
class Resource:
    """One instance of a managed resource in the state."""

    address: str  # module.fan_out.module.queue.aws_sqs_queue.this
    type: str  # aws_sqs_queue
    attributes: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.attributes.get(name)
        return default if value is None else value


@dataclass(frozen=True)
class FunctionName:
    """A Lambda FunctionName as the SDK takes it: name, partial ARN or ARN, with or without a qualifier."""

    name: str
    qualifier: str
    form: str  # "name", "arn" or "partial" (<account>:function:<name>)
    region: str = ""
    account: str = ""

    @classmethod
    def parse(cls, value: str) -> FunctionName:
        parts = value.split(":")
        if value.startswith("arn:") and len(parts) >= 7:
            return cls(parts[6], parts[7] if len(parts) > 7 else "", "arn", region=parts[3], account=parts[4])
        if len(parts) >= 3 and parts[1] == "function":
            return cls(parts[2], parts[3] if len(parts) > 3 else "", "partial", account=parts[0])
        return cls(parts[0], parts[1] if len(parts) > 1 else "", "name")


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


def arn_parts(arn: str) -> list[str]:
    """partition, service, region, account, resource (the resource keeps its own colons)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[1:]


def parse_document(document: str | Mapping[str, Any] | None) -> PolicyDocument | None:
    if not document:
        return None
    return json.loads(document) if isinstance(document, str) else dict(document)


def queue_url_parts(url: str) -> tuple[str, str]:
    """(account, queue name) of a queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>, or an emulator's."""
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    if len(segments) < 2:
        raise ValueError(f"not a queue URL: {url!r}")
    return segments[-2], segments[-1]


class Stack:
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

    # -- names to ARNs ----------------------------------------------------------------------------------

    @staticmethod
    def bucket_arn(bucket: str) -> str:
        return f"arn:aws:s3:::{bucket}"

    @staticmethod
    def object_arn(bucket: str, key: str) -> str:
        return f"arn:aws:s3:::{bucket}/{key}"

    def queue_arn(self, reference: str, region: str | None = None) -> str:
        """A queue's ARN from its ARN, URL or name."""
        if reference.startswith("arn:"):
            return reference
        found = self.find(reference, ["aws_sqs_queue"])
        if found is not None:
            return found[0].get("arn")
        if reference.startswith(("http://", "https://")):
            account, name = queue_url_parts(reference)
        else:
            account, name = self.account, reference
        return f"arn:aws:sqs:{region or self.region}:{account}:{name}"

    def table_arn(self, table: str, region: str | None = None) -> str:
        if table.startswith("arn:"):
            return table
        found = self.find(table, ["aws_dynamodb_table"])
        if found is not None:
            return found[0].get("arn")
        return f"arn:aws:dynamodb:{region or self.region}:{self.account}:table/{table}"

    def index_arn(self, table: str, index: str, region: str | None = None) -> str:
        return f"{self.table_arn(table, region)}/index/{index}"

    def key_arn(self, reference: str, region: str | None = None) -> str:
        """A KMS key's ARN from its ARN, id, alias name or alias ARN."""
        if reference.startswith("arn:") and ":key/" in reference:
            return reference
        if "alias/" in reference:
            alias_name = reference[reference.index("alias/") :]
            found = self.find(alias_name, ["aws_kms_alias"])
            if found is None:
                raise StackError(f"stack {self.name} does not say which key the alias {reference!r} names")
            return found[0].get("target_key_arn")
        found = self.find(reference, ["aws_kms_key"])
        if found is not None:
            return found[0].get("arn")
        return f"arn:aws:kms:{region or self.region}:{self.account}:key/{reference}"

    def event_bus_arn(self, bus: str, region: str | None = None) -> str:
        if bus.startswith("arn:"):
            return bus
        return f"arn:aws:events:{region or self.region}:{self.account}:event-bus/{bus}"

    def log_stream_arn(self, log_group: str, stream: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{log_group}:log-stream:{stream}"

    # -- HTTP APIs --------------------------------------------------------------------------------------

    def api_request_arn(self, method: str, url: str, region: str | None = None) -> str:
        """The execute-api ARN a signed request to this URL is authorized against.

        arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>; the API comes from the
        host (<id>.execute-api.<region>.amazonaws.com, or .localhost on an emulator) or from the
        emulator's path form (/_aws/execute-api/<id>/<stage>/<path>).
        """
        parsed = urlsplit(url)
        segments = [unquote(segment) for segment in parsed.path.split("/")[1:]]
        if segments[:2] == ["_aws", "execute-api"] and len(segments) >= 4:
            api_id, stage, path = segments[2], segments[3], segments[4:]
        else:
            api_id = (parsed.hostname or "").split(".")[0]
            named_stages = {stage for stage in self._stages_of(api_id) if stage != "$default"}
            if segments and segments[0] in named_stages:
                stage, path = segments[0], segments[1:]
            else:
                stage, path = "$default", segments
        found = self.find(api_id, ["aws_apigatewayv2_api"])
        if found is not None:
            prefix = found[0].get("execution_arn")
        else:
            prefix = f"arn:aws:execute-api:{region or self.region}:{self.account}:{api_id}"
        return f"{prefix}/{stage}/{method.upper()}/{'/'.join(path)}"

    def _stages_of(self, api_id: str) -> list[str]:
        return [
            stage.get("name") for stage in self.resources("aws_apigatewayv2_stage") if stage.get("api_id") == api_id
        ]

    def api_route_arns(self, function_arn: str | None = None) -> list[str]:
        """A concrete execute-api ARN for each route of each stage (of the APIs integrated with this function)."""
        integrations = {
            (integration.get("api_id"), integration.get("id"))
            for integration in self.resources("aws_apigatewayv2_integration")
            if function_arn is None or function_arn in (integration.get("integration_uri") or "")
        }
        found = []
        for api in self.resources("aws_apigatewayv2_api"):
            for route in self.resources("aws_apigatewayv2_route"):
                target = (route.get("target") or "").removeprefix("integrations/")
                if route.get("api_id") != api.get("id") or (api.get("id"), target) not in integrations:
                    continue
                method, path = concrete_route(route.get("route_key"))
                for stage in self._stages_of(api.get("id")):
                    found.append(f"{api.get('execution_arn')}/{stage}/{method}/{path}")
        return sorted(found)

    # -- policies ---------------------------------------------------------------------------------------

    def _document(self, arn: str, what: str) -> PolicyDocument:
        """A managed policy's document: from an aws_iam_policy of the state, else the dump's extra_policies."""
        found = self.find(arn, ["aws_iam_policy"])
        if found is not None:
            return parse_document(found[0].get("policy")) or {}
        if arn in self.extra_policies:
            return self.extra_policies[arn]
        raise StackError(
            f"{what} {arn} of stack {self.name}: its document is neither in the state nor in the dump's "
            "extra_policies (an AWS managed policy? add its document to extra_policies)"
        )

    def _role(self, role_arn: str) -> Resource:
        found = self.find(role_arn, ["aws_iam_role"])
        if found is None:
            raise StackError(f"stack {self.name} has no role {role_arn}")
        return found[0]

    def identity_policies(self, role_arn: str) -> tuple[NamedPolicy, ...]:
        """The role's inline policies and the managed policies attached to it, as Terraform rendered them."""
        role = self._role(role_arn)
        role_name = role.get("name")
        policies: dict[str, NamedPolicy] = {}
        for inline in self.resources("aws_iam_role_policy"):
            if inline.get("role") in (role_name, role_arn):
                name = f"role {role_name}, inline policy {inline.get('name')}"
                policies[name] = NamedPolicy(name, parse_document(inline.get("policy")) or {})
        # The role's own inline_policy blocks; the ones aws_iam_role_policy made appear there too once refreshed.
        for inline in role.get("inline_policy", []):
            name = f"role {role_name}, inline policy {inline.get('name')}"
            if inline.get("name") and name not in policies:
                policies[name] = NamedPolicy(name, parse_document(inline.get("policy")) or {})
        attached = [
            attachment.get("policy_arn")
            for attachment in self.resources("aws_iam_role_policy_attachment")
            if attachment.get("role") in (role_name, role_arn)
        ]
        for policy_arn in dict.fromkeys([*attached, *role.get("managed_policy_arns", [])]):
            name = f"role {role_name}, attached policy {policy_arn}"
            policies[name] = NamedPolicy(name, self._document(policy_arn, f"the policy attached to role {role_name}"))
        return tuple(policies.values())

    def permissions_boundary(self, role_arn: str) -> NamedPolicy | None:
        role = self._role(role_arn)
        boundary = role.get("permissions_boundary")
        if not boundary:
            return None
        what = f"the permissions boundary of role {role.get('name')}"
        return NamedPolicy(f"permissions boundary {boundary}", self._document(boundary, what))

    def resource_policy(self, arn: str) -> NamedPolicy | None:
        """The resource policy AWS evaluates for a request on this ARN: bucket, queue, topic, key or function policy."""
        service = arn_parts(arn)[1]
        if service == "s3":
            return self._bucket_policy(arn_parts(arn)[4].split("/", 1)[0])
        if service == "sqs":
            return self._queue_policy(arn)
        if service == "sns":
            return self._topic_policy(arn)
        if service == "kms":
            return self._key_policy(arn)
        if service == "lambda":
            return self._function_policy(arn)
        return None

    def _bucket_policy(self, bucket: str) -> NamedPolicy | None:
        for policy in self.resources("aws_s3_bucket_policy"):
            if policy.get("bucket") == bucket:
                return NamedPolicy(f"bucket policy of {bucket}", parse_document(policy.get("policy")) or {})
        found = self.find(bucket, ["aws_s3_bucket"])
        document = parse_document(found[0].get("policy")) if found else None
        return NamedPolicy(f"bucket policy of {bucket}", document) if document else None

    def _queue_policy(self, queue_arn: str) -> NamedPolicy | None:
        found = self.find(queue_arn, ["aws_sqs_queue"])
        if found is None:
            return None
        queue = found[0]
        label = f"queue policy of {queue.get('name')}"
        for policy in self.resources("aws_sqs_queue_policy"):
            if policy.get("queue_url") == queue.get("url") or policy.get("queue_url") == queue.get("id"):
                return NamedPolicy(label, parse_document(policy.get("policy")) or {})
        document = parse_document(queue.get("policy"))
        return NamedPolicy(label, document) if document else None

    def _topic_policy(self, topic_arn: str) -> NamedPolicy | None:
        label = f"topic policy of {topic_arn.rsplit(':', 1)[-1]}"
        # aws_sns_topic_policy replaces the topic's policy; the topic's own attribute may still show SNS's default.
        for policy in self.resources("aws_sns_topic_policy"):
            if policy.get("arn") == topic_arn:
                return NamedPolicy(label, parse_document(policy.get("policy")) or {})
        found = self.find(topic_arn, ["aws_sns_topic"])
        document = parse_document(found[0].get("policy")) if found else None
        return NamedPolicy(label, document) if document else None

    def _key_policy(self, key_arn: str) -> NamedPolicy:
        found = self.find(key_arn, ["aws_kms_key"])
        document = parse_document(found[0].get("policy")) if found else self.extra_policies.get(key_arn)
        if not document:
            raise StackError(
                f"no key policy for {key_arn} in stack {self.name}: a key made outside Terraform needs its policy "
                "in the dump's extra_policies"
            )
        return NamedPolicy(f"key policy of {key_arn}", document)

    def _function_policy(self, arn: str) -> NamedPolicy | None:
        """The function's resource policy, assembled from its aws_lambda_permission resources as Lambda does."""
        parsed = FunctionName.parse(arn)
        found = self.find(parsed.name, ["aws_lambda_function"])
        if found is None:
            return None
        function = found[0]
        statements = [
            self.permission_statement(permission)
            for permission in self.lambda_permissions()
            if self._names_function(permission.get("function_name"), function)
            and (permission.get("qualifier") or FunctionName.parse(permission.get("function_name")).qualifier)
            == parsed.qualifier
        ]
        if not statements:
            return None
        document = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return NamedPolicy(f"function policy of {function.get('function_name')}", document)

    def lambda_permissions(self) -> list[Resource]:
        return self.resources("aws_lambda_permission")

    def permission_statement(self, permission: Resource) -> dict[str, Any]:
        """The statement Lambda's AddPermission writes for an aws_lambda_permission."""
        function_arn = self.function_arn(permission.get("function_name"), permission.get("qualifier", ""))
        principal = permission.get("principal")
        if principal == "*":
            principal_element: Any = {"AWS": "*"}
        elif principal.endswith(".amazonaws.com") or principal.endswith(".amazonaws.com.cn"):
            principal_element = {"Service": principal}
        elif re.fullmatch(r"\d{12}", principal):
            principal_element = {"AWS": f"arn:aws:iam::{principal}:root"}
        else:
            principal_element = {"AWS": principal}
        condition: dict[str, dict[str, str]] = {}
        if permission.get("source_arn"):
            condition.setdefault("ArnLike", {})["AWS:SourceArn"] = permission.get("source_arn")
        if permission.get("source_account"):
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = permission.get("source_account")
        if permission.get("principal_org_id"):
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = permission.get("principal_org_id")
        if permission.get("event_source_token"):
            condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = permission.get("event_source_token")
        if permission.get("function_url_auth_type"):
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = permission.get(
                "function_url_auth_type"
            )
        statement: dict[str, Any] = {
            "Sid": permission.get("statement_id"),
            "Effect": "Allow",
            "Principal": principal_element,
            "Action": permission.get("action"),
            "Resource": function_arn,
        }
        if condition:
            statement["Condition"] = condition
        return statement

    def queue_policies(self) -> list[tuple[str, NamedPolicy]]:
        """(queue ARN, its policy) of every queue that has one."""
        found = []
        for queue in self.resources("aws_sqs_queue"):
            policy = self._queue_policy(queue.get("arn"))
            if policy is not None:
                found.append((queue.get("arn"), policy))
        return found

    def topic_policies(self) -> list[tuple[str, NamedPolicy]]:
        found = []
        for topic in self.resources("aws_sns_topic"):
            policy = self._topic_policy(topic.get("arn"))
            if policy is not None:
                found.append((topic.get("arn"), policy))
        return found

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

    def counterpart(self, value: str, to: Stack, types: Iterable[str] | None = None) -> str:
        """The same identifier (name, URL or ARN) of the resource at the same address in the other stack."""
        found = self.find(value, types)
        if found is None:
            raise StackError(f"{value!r} is no resource of stack {self.name}: it has no counterpart in {to.name}")
        resource, attribute = found
        other = to._by_address.get(resource.address)
        if other is None or not other.get(attribute):
            raise StackError(f"stack {to.name} has no {resource.address} (the owner of {value!r} in {self.name})")
        return other.get(attribute)

    def translate(self, call: RecordedCall, to: Stack) -> RecordedCall:
        """The same call made on the other stack: every resource it names replaced by its counterpart there.

        Object keys, prefixes and everything else that names no resource are kept; a function's
        calls are made by the function at the same address.
        """
        principal = call.principal
        if call.principal_kind == "function":
            principal = self.counterpart(call.principal, to, ["aws_lambda_function"])
        params = {name: self._translate_param(name, value, to) for name, value in call.params.items()}
        return replace(call, principal=principal, params=params, region=to.region)

    def _translate_param(self, name: str, value: Any, to: Stack) -> Any:
        if value is None:
            return value
        if name == "Bucket":
            return self.counterpart(value, to, ["aws_s3_bucket"])
        if name == "CopySource":
            return self._translate_copy_source(value, to)
        if name in ("QueueUrl", "QueueName"):
            return self.counterpart(value, to, ["aws_sqs_queue"])
        if name == "TableName":
            return self.counterpart(value, to, ["aws_dynamodb_table"])
        if name == "FunctionName":
            return self._translate_function_name(value, to)
        if name in ("TopicArn", "TargetArn", "SourceArn", "DestinationArn"):
            return self.counterpart(value, to)
        if name == "LogGroupName":
            return self.counterpart(value, to, ["aws_cloudwatch_log_group"])
        if name in ("KeyId", "SSEKMSKeyId"):
            return self.counterpart(value, to, ["aws_kms_key", "aws_kms_alias"])
        if name == "TransactItems":
            return [
                {kind: {**body, "TableName": self.counterpart(body["TableName"], to, ["aws_dynamodb_table"])}}
                for item in value
                for kind, body in item.items()
            ]
        if name == "RequestItems":
            return {self.counterpart(table, to, ["aws_dynamodb_table"]): kinds for table, kinds in value.items()}
        if name == "url":
            return self._translate_api_url(value, to)
        if name == "Entries":
            return [
                {**entry, "EventBusName": self._translate_bus(entry.get("EventBusName") or "default", to)}
                for entry in value
            ]
        return value

    def _translate_copy_source(self, value: Any, to: Stack) -> Any:
        if isinstance(value, Mapping):
            return {**value, "Bucket": self.counterpart(value["Bucket"], to, ["aws_s3_bucket"])}
        bucket, _, rest = value.lstrip("/").partition("/")
        return f"{self.counterpart(unquote(bucket), to, ['aws_s3_bucket'])}/{rest}"

    def _translate_function_name(self, value: str, to: Stack) -> str:
        parsed = FunctionName.parse(value)
        other = to.function(self.counterpart(parsed.name, to, ["aws_lambda_function"]))
        suffix = f":{parsed.qualifier}" if parsed.qualifier else ""
        if parsed.form == "arn":
            return f"{other.get('arn')}{suffix}"
        if parsed.form == "partial":
            return f"{arn_parts(other.get('arn'))[3]}:function:{other.get('function_name')}{suffix}"
        return f"{other.get('function_name')}{suffix}"

    def _translate_api_url(self, url: str, to: Stack) -> str:
        parsed = urlsplit(url)
        host_labels = (parsed.hostname or "").split(".")
        segments = parsed.path.split("/")
        if segments[1:3] == ["_aws", "execute-api"] and len(segments) > 3:
            segments[3] = self.counterpart(segments[3], to, ["aws_apigatewayv2_api"])
            return urlunsplit(parsed._replace(path="/".join(segments)))
        api_id = self.counterpart(host_labels[0], to, ["aws_apigatewayv2_api"])
        netloc = parsed.netloc.replace(host_labels[0], api_id, 1)
        return urlunsplit(parsed._replace(netloc=netloc))

    def _translate_bus(self, bus: str, to: Stack) -> str:
        # The default bus is every account's own; only a bus the stack made has a counterpart.
        return bus if bus == "default" else self.counterpart(bus, to, ["aws_cloudwatch_event_bus"])

    def owns(self, call: RecordedCall) -> bool:
        """Whether the call names a resource of this stack (a caller's calls are matched to stacks so)."""
        return any(self.find(value, types) is not None for value, types in named_resources(call))


def named_resources(call: RecordedCall) -> Iterator[tuple[str, list[str] | None]]:
    """(identifier, resource types it may name) of every resource a call names."""
    params = call.params
    simple = {
        "Bucket": ["aws_s3_bucket"],
        "QueueUrl": ["aws_sqs_queue"],
        "QueueName": ["aws_sqs_queue"],
        "TableName": ["aws_dynamodb_table"],
        "TopicArn": None,
        "TargetArn": None,
        "SourceArn": None,
        "DestinationArn": None,
        "LogGroupName": ["aws_cloudwatch_log_group"],
    }
    for name, types in simple.items():
        if isinstance(params.get(name), str):
            yield params[name], types
    if isinstance(params.get("FunctionName"), str):
        yield FunctionName.parse(params["FunctionName"]).name, ["aws_lambda_function"]
    for item in params.get("TransactItems") or []:
        for body in item.values():
            yield body["TableName"], ["aws_dynamodb_table"]
    for table in params.get("RequestItems") or {}:
        yield table, ["aws_dynamodb_table"]
    if isinstance(params.get("url"), str):
        parsed = urlsplit(params["url"])
        segments = parsed.path.split("/")
        if segments[1:3] == ["_aws", "execute-api"] and len(segments) > 3:
            yield segments[3], ["aws_apigatewayv2_api"]
        else:
            yield (parsed.hostname or "").split(".")[0], ["aws_apigatewayv2_api"]


def concrete_route(route_key: str) -> tuple[str, str]:
    """(METHOD, path) of one request a route accepts: path parameters filled, ANY and $default made concrete."""
    if route_key == "$default":
        return "GET", "example"
    method, _, path = route_key.partition(" ")
    path = re.sub(r"\{[^}/]+\+\}", "example/path", path)
    path = re.sub(r"\{[^}/]+\}", "example", path)
    return ("GET" if method == "ANY" else method), path.lstrip("/")
