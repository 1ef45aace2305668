"""What AWS services do with a function's role, and which services the stack lets in.

`service_cases(stack)`: the requests Lambda makes with each function's execution role, which no
recorded call shows: polling its event source mappings, delivering failed asynchronous invocations
to their destination or dead-letter queue, writing its logs, sending its traces.

`trigger_cases(stack)`: for every permission a service principal holds (Lambda permissions, queue
and topic policy statements, and the key policy of a customer managed key under a queue or topic a
service writes to), the request that service makes from a genuine source of this stack, which must
be allowed, and its foreign twin from another account, which must be denied (no confused deputy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from iam_check.evaluate import statements_of
from iam_check.model import Case, IamRequest
from iam_check.requests import SECURE_TRANSPORT, function_principal, implied_kms_requests, principal_context
from iam_check.stack import FunctionName, Resource, Stack, StackError, arn_parts, parse_document

FOREIGN_ACCOUNT = "111122223333"

# What Lambda's event source mapping does with the function's role on an SQS queue.
SQS_POLLING = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")
# A log stream as Lambda names them; the runtime creates one per execution environment.
EXAMPLE_LOG_STREAM = "2025/01/01/[$LATEST]0123456789abcdef0123456789abcdef"
# What a service principal does to each kind of resource when a statement grants it a wildcard.
DELIVERY_ACTIONS = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "lambda": "lambda:InvokeFunction"}
# The requests of a service writing to a queue or topic, which a customer managed key makes it repeat to KMS.
ENCRYPTED_WRITES = ("sqs:SendMessage", "sns:Publish")


# -- what services do with a function's role ----------------------------------------------------------------


def _delivery(target_arn: str) -> IamRequest:
    """The request Lambda makes to hand a failed (or finished) asynchronous invocation to its destination."""
    service = arn_parts(target_arn)[1]
    actions = {**DELIVERY_ACTIONS, "events": "events:PutEvents"}
    if service not in actions:
        raise StackError(
            f"a destination of kind {service} ({target_arn}) is not mapped: extend tests/iam_check/services.py"
        )
    return IamRequest(actions[service], target_arn)


def _function_service_requests(stack: Stack, function_name: str) -> list[IamRequest]:
    found = []
    for source in stack.event_sources(function_name):
        if arn_parts(source)[1] != "sqs":
            raise StackError(
                f"event source {source} of {function_name}: only SQS event sources are mapped "
                "(extend tests/iam_check/services.py)"
            )
        found += [
            IamRequest(
                action, source, why=f"service: Lambda polls {source.rsplit(':', 1)[-1]} on behalf of {function_name}"
            )
            for action in SQS_POLLING
        ]
    targets = [(f"{outcome} destination", arn) for outcome, arn in stack.destinations(function_name)]
    dead_letter = stack.dead_letter_target(function_name)
    if dead_letter:
        targets.append(("dead-letter queue", dead_letter))
    for what, target in targets:
        request = _delivery(target)
        found.append(
            IamRequest(
                request.action,
                request.resource,
                why=f"service: Lambda delivers to its {what} {target.rsplit(':', 1)[-1]} on behalf of {function_name}",
            )
        )
    stream = stack.log_stream_arn(stack.log_group(function_name), EXAMPLE_LOG_STREAM)
    found += [
        IamRequest(action, stream, why=f"service: Lambda writes the logs of {function_name}")
        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
    ]
    if stack.tracing_active(function_name):
        found += [
            IamRequest(action, "*", why=f"service: Lambda sends the traces of {function_name}")
            for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
        ]
    with_kms = []
    for request in found:
        with_kms.append(request)
        with_kms += implied_kms_requests(request, stack, stack.region)
    return with_kms


def service_cases(stack: Stack) -> list[Case]:
    """What Lambda does with each function's execution role, decided by that role's policies and the resource's."""
    cases = []
    for function_name in stack.function_names():
        session, role_arn = function_principal(stack, function_name)
        identity, boundary = stack.identity_policies(role_arn), stack.permissions_boundary(role_arn)
        for request in _function_service_requests(stack, function_name):
            context = {**SECURE_TRANSPORT, **request.context, **principal_context(role_arn, stack.account)}
            cases.append(
                Case(
                    principal=session,
                    principal_label=function_name,
                    request=IamRequest(request.action, request.resource, context, request.why),
                    resource_account=stack.account,
                    identity_policies=identity,
                    permissions_boundary=boundary,
                    resource_policy=stack.resource_policy(request.resource) if request.resource != "*" else None,
                )
            )
    return cases


# -- which services the stack lets in -----------------------------------------------------------------------


def arn_like(pattern: str, arn: str) -> bool:
    """IAM's ArnLike: * matches any run of characters, ? any one."""
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(expression, arn) is not None


def foreign_twin(arn: str) -> str:
    """The same source ARN in another account (an ARN without an account, such as a bucket's, stays as it is)."""
    partition, service, region, account, resource = arn_parts(arn)
    return f"arn:{partition}:{service}:{region}:{FOREIGN_ACCOUNT if account else ''}:{resource}"


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _same_function(reference: str | None, function_arn: str) -> bool:
    return bool(reference) and FunctionName.parse(reference).name == FunctionName.parse(function_arn).name


def related_sources(stack: Stack, service: str, target_arn: str) -> list[str]:
    """The resources of the stack from which `service` reaches the target: the sources AWS would name."""
    if service == "s3.amazonaws.com":
        found = []
        for notification in stack.resources("aws_s3_bucket_notification"):
            targets = [
                *(entry.get("lambda_function_arn") for entry in notification.get("lambda_function", [])),
                *(entry.get("queue_arn") for entry in notification.get("queue", [])),
                *(entry.get("topic_arn") for entry in notification.get("topic", [])),
            ]
            if any(target == target_arn or _same_function(target, target_arn) for target in targets if target):
                found.append(stack.bucket_arn(notification.get("bucket")))
        return found
    if service == "sns.amazonaws.com":
        # The topics subscribed to the target, and those whose subscription moves undeliverable messages there.
        return [
            subscription.get("topic_arn")
            for subscription in stack.resources("aws_sns_topic_subscription")
            if subscription.get("endpoint") == target_arn
            or _same_function(subscription.get("endpoint"), target_arn)
            or (parse_document(subscription.get("redrive_policy")) or {}).get("deadLetterTargetArn") == target_arn
        ]
    if service == "events.amazonaws.com":
        rules = {
            target.get("rule")
            for target in stack.resources("aws_cloudwatch_event_target")
            if target.get("arn") == target_arn or _same_function(target.get("arn"), target_arn)
        }
        return [rule.get("arn") for rule in stack.resources("aws_cloudwatch_event_rule") if rule.get("name") in rules]
    if service == "apigateway.amazonaws.com":
        return stack.api_route_arns(stack.function_arn(FunctionName.parse(target_arn).name))
    if service == "cloudwatch.amazonaws.com":
        return stack.alarms_notifying(target_arn)
    return []


def genuine_sources(stack: Stack, service: str, target_arn: str, patterns: Iterable[str]) -> list[str]:
    """Concrete source ARNs of this stack that a statement's aws:SourceArn patterns admit.

    The stack's own sources of the target first (every route of an API; one of the others), else any
    ARN of the stack the pattern matches, else the pattern with its wildcards filled in. A statement
    without a SourceArn condition gets the related sources, or an example ARN of the service.
    """
    related = related_sources(stack, service, target_arn)
    patterns = list(patterns)
    if not patterns:
        if related:
            return related if service == "apigateway.amazonaws.com" else related[:1]
        name = service.split(".", 1)[0]
        return [
            f"arn:aws:s3:::{stack.name}-example"
            if name == "s3"
            else f"arn:aws:{name}:{stack.region}:{stack.account}:example"
        ]
    chosen: list[str] = []
    for pattern in patterns:
        matching = [arn for arn in related if arn_like(pattern, arn)]
        if matching and service == "apigateway.amazonaws.com":
            chosen += matching
            continue
        matching = matching or [arn for arn in stack.arns() if arn_like(pattern, arn)]
        chosen.append(matching[0] if matching else pattern.replace("*", "example").replace("?", "x"))
    return list(dict.fromkeys(chosen))


def _trigger_pair(
    stack: Stack, service: str, action: str, target_arn: str, source: str, resource_policy_arn: str | None = None
) -> list[tuple[Case, bool]]:
    """The genuine request (allowed) and its foreign twin (denied)."""
    policy = stack.resource_policy(resource_policy_arn or target_arn)
    pairs = []
    for source_arn, account, allowed in ((source, stack.account, True), (foreign_twin(source), FOREIGN_ACCOUNT, False)):
        context = {**SECURE_TRANSPORT, "aws:SourceArn": source_arn, "aws:SourceAccount": account}
        why = f"trigger: {service} {action} on {target_arn} from {source_arn}" + (
            "" if allowed else " (a foreign source)"
        )
        case = Case(
            principal=service,
            principal_label=service,
            request=IamRequest(action, target_arn, context, why),
            resource_account=stack.account,
            resource_policy=policy,
        )
        pairs.append((case, allowed))
    return pairs


def _with_key_pairs(stack: Stack, pairs: list[tuple[Case, bool]]) -> list[tuple[Case, bool]]:
    """Each write to an encrypted queue or topic, followed by the service's requests to the key's policy."""
    found = []
    for case, allowed in pairs:
        found.append((case, allowed))
        request = case.request
        key = stack.encryption_key(request.resource) if request.action in ENCRYPTED_WRITES else None
        if key is None:
            continue
        key_policy = stack.resource_policy(key)
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            why = f"{request.why}: implied {action} under key {key}"
            key_request = IamRequest(action, key, dict(request.context), why)
            found.append(
                (
                    Case(case.principal, case.principal_label, key_request, stack.account, resource_policy=key_policy),
                    allowed,
                )
            )
    return found


def _permission_triggers(stack: Stack, permission: Resource) -> list[tuple[Case, bool]]:
    service = permission.get("principal")
    if not service.endswith(".amazonaws.com"):
        return []  # an account or a role: a caller, not a trigger
    target = stack.function_arn(permission.get("function_name"), permission.get("qualifier", ""))
    patterns = _listed(permission.get("source_arn"))
    pairs = []
    for source in genuine_sources(stack, service, target, patterns):
        pairs += _trigger_pair(stack, service, permission.get("action"), target, source)
    return pairs


def _source_arn_patterns(statement: dict[str, Any]) -> list[str]:
    patterns = []
    for keys in (statement.get("Condition") or {}).values():
        for key, values in keys.items():
            if key.lower() == "aws:sourcearn":
                patterns += _listed(values)
    return patterns


def _statement_triggers(stack: Stack, target_arn: str, document: dict[str, Any]) -> list[tuple[Case, bool]]:
    """The service principals a queue or topic policy lets in, one genuine/foreign pair per service and action."""
    pairs = []
    for _, statement in statements_of(document):
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, dict) or "Service" not in principal:
            continue
        target_service = arn_parts(target_arn)[1]
        actions = []
        for action in _listed(statement.get("Action")):
            prefix, _, name = action.partition(":")
            actions.append(DELIVERY_ACTIONS[target_service] if "*" in name else f"{prefix.lower()}:{name}")
        for service in _listed(principal["Service"]):
            for source in genuine_sources(stack, service, target_arn, _source_arn_patterns(statement)):
                for action in dict.fromkeys(actions):
                    pairs += _trigger_pair(stack, service, action, target_arn, source)
    return pairs


def trigger_cases(stack: Stack) -> list[tuple[Case, bool]]:
    """(case, whether it must be allowed) for every way the stack lets an AWS service in."""
    pairs: list[tuple[Case, bool]] = []
    for permission in stack.lambda_permissions():
        pairs += _permission_triggers(stack, permission)
    for target_arn, policy in [*stack.queue_policies(), *stack.topic_policies()]:
        pairs += _statement_triggers(stack, target_arn, policy.document)
    return _with_key_pairs(stack, pairs)
