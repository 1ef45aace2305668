"""A call made on one stack, mapped onto another shape of the same root (the local stack's calls on prod).

Two stacks of one root hold the same resources at the same Terraform addresses under other names:
a resource's counterpart is the resource at its address in the other stack. `translate` replaces
every resource a call names by its counterpart; `owns` tells whether a call names a resource of a
stack (a caller's calls are matched to stacks so). Stack.translate and Stack.owns call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from iam_check.model import RecordedCall
from iam_check.names import FunctionName, StackError, arn_parts

if TYPE_CHECKING:
    from iam_check.stack import Stack


def counterpart(value: str, from_stack: Stack, to_stack: Stack, types: Iterable[str] | None = None) -> str:
    """The same identifier (name, URL or ARN) of the resource at the same address in the other stack."""
    found = from_stack.find(value, types)
    if found is None:
        raise StackError(
            f"{value!r} is no resource of stack {from_stack.name}: it has no counterpart in {to_stack.name}"
        )
    resource, attribute = found
    other = to_stack.resource_at(resource.address)
    if other is None or not other.get(attribute):
        raise StackError(
            f"stack {to_stack.name} has no {resource.address} (the owner of {value!r} in {from_stack.name})"
        )
    return other.get(attribute)


def translate(call: RecordedCall, from_stack: Stack, to_stack: Stack) -> RecordedCall:
    """The same call made on the other stack: every resource it names replaced by its counterpart there.

    Object keys, prefixes and everything else that names no resource are kept; a function's
    calls are made by the function at the same address.
    """
    principal = call.principal
    if call.principal_kind == "function":
        principal = counterpart(call.principal, from_stack, to_stack, ["aws_lambda_function"])
    params = {name: _translate_param(name, value, from_stack, to_stack) for name, value in call.params.items()}
    return replace(call, principal=principal, params=params, region=to_stack.region)


def _translate_param(name: str, value: Any, from_stack: Stack, to_stack: Stack) -> Any:
    if value is None:
        return value
    if name == "Bucket":
        return counterpart(value, from_stack, to_stack, ["aws_s3_bucket"])
    if name == "CopySource":
        return _translate_copy_source(value, from_stack, to_stack)
    if name in ("QueueUrl", "QueueName"):
        return counterpart(value, from_stack, to_stack, ["aws_sqs_queue"])
    if name == "TableName":
        return counterpart(value, from_stack, to_stack, ["aws_dynamodb_table"])
    if name == "FunctionName":
        return _translate_function_name(value, from_stack, to_stack)
    if name in ("TopicArn", "TargetArn", "SourceArn", "DestinationArn"):
        return counterpart(value, from_stack, to_stack)
    if name == "LogGroupName":
        return counterpart(value, from_stack, to_stack, ["aws_cloudwatch_log_group"])
    if name in ("KeyId", "SSEKMSKeyId"):
        return counterpart(value, from_stack, to_stack, ["aws_kms_key", "aws_kms_alias"])
    if name == "TransactItems":
        return [
            {kind: {**body, "TableName": counterpart(body["TableName"], from_stack, to_stack, ["aws_dynamodb_table"])}}
            for item in value
            for kind, body in item.items()
        ]
    if name == "RequestItems":
        return {
            counterpart(table, from_stack, to_stack, ["aws_dynamodb_table"]): kinds for table, kinds in value.items()
        }
    if name == "url":
        return _translate_api_url(value, from_stack, to_stack)
    if name == "Entries":
        return [
            {**entry, "EventBusName": _translate_bus(entry.get("EventBusName") or "default", from_stack, to_stack)}
            for entry in value
        ]
    return value


def _translate_copy_source(value: Any, from_stack: Stack, to_stack: Stack) -> Any:
    if isinstance(value, Mapping):
        return {**value, "Bucket": counterpart(value["Bucket"], from_stack, to_stack, ["aws_s3_bucket"])}
    bucket, _, rest = value.lstrip("/").partition("/")
    return f"{counterpart(unquote(bucket), from_stack, to_stack, ['aws_s3_bucket'])}/{rest}"


def _translate_function_name(value: str, from_stack: Stack, to_stack: Stack) -> str:
    parsed = FunctionName.parse(value)
    other = to_stack.function(counterpart(parsed.name, from_stack, to_stack, ["aws_lambda_function"]))
    suffix = f":{parsed.qualifier}" if parsed.qualifier else ""
    if parsed.form == "arn":
        return f"{other.get('arn')}{suffix}"
    if parsed.form == "partial":
        return f"{arn_parts(other.get('arn'))[3]}:function:{other.get('function_name')}{suffix}"
    return f"{other.get('function_name')}{suffix}"


def _translate_api_url(url: str, from_stack: Stack, to_stack: Stack) -> str:
    parsed = urlsplit(url)
    host_labels = (parsed.hostname or "").split(".")
    segments = parsed.path.split("/")
    if segments[1:3] == ["_aws", "execute-api"] and len(segments) > 3:
        segments[3] = counterpart(segments[3], from_stack, to_stack, ["aws_apigatewayv2_api"])
        return urlunsplit(parsed._replace(path="/".join(segments)))
    api_id = counterpart(host_labels[0], from_stack, to_stack, ["aws_apigatewayv2_api"])
    netloc = parsed.netloc.replace(host_labels[0], api_id, 1)
    return urlunsplit(parsed._replace(netloc=netloc))


def _translate_bus(bus: str, from_stack: Stack, to_stack: Stack) -> str:
    # The default bus is every account's own; only a bus the stack made has a counterpart.
    return bus if bus == "default" else counterpart(bus, from_stack, to_stack, ["aws_cloudwatch_event_bus"])


def owns(stack: Stack, call: RecordedCall) -> bool:
    """Whether the call names a resource of this stack (a caller's calls are matched to stacks so)."""
    return any(stack.find(value, types) is not None for value, types in named_resources(call))


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
