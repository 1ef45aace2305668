"""The policies in play for a request on a stack, as Terraform rendered them into the state.

`StackPolicies`, mixed into Stack, reads a role's identity policies and permissions boundary and a
resource's policy (bucket, queue, topic, key or function policy). A managed policy or key policy
made outside Terraform is read from the dump's `extra_policies`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from iam_check.model import NamedPolicy, PolicyDocument
from iam_check.names import FunctionName, StackError, arn_parts

if TYPE_CHECKING:
    from iam_check.stack import Resource


def parse_document(document: str | Mapping[str, Any] | None) -> PolicyDocument | None:
    if not document:
        return None
    return json.loads(document) if isinstance(document, str) else dict(document)


class StackPolicies:
    """A stack's policies. Mixed into Stack: it reads the stack's find, resources, function_arn,
    _names_function, name and extra_policies."""

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
