"""How calls and the state name resources, and the ARN each name stands for.

The helpers parse names without a stack; `StackNames`, mixed into Stack, turns the names a call
uses (bucket, queue URL, table, key alias, API URL...) into the ARNs IAM authorizes, preferring the
ARN the stack's state holds and building one from the stack's account and region otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class StackError(LookupError):
    """The dump lacks something the check needs: a policy document, a resource, its counterpart."""


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


def arn_parts(arn: str) -> list[str]:
    """partition, service, region, account, resource (the resource keeps its own colons)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[1:]


def queue_url_parts(url: str) -> tuple[str, str]:
    """(account, queue name) of a queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>, or an emulator's."""
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    if len(segments) < 2:
        raise ValueError(f"not a queue URL: {url!r}")
    return segments[-2], segments[-1]


def concrete_route(route_key: str) -> tuple[str, str]:
    """(METHOD, path) of one request a route accepts: path parameters filled, ANY and $default made concrete."""
    if route_key == "$default":
        return "GET", "example"
    method, _, path = route_key.partition(" ")
    path = re.sub(r"\{[^}/]+\+\}", "example/path", path)
    path = re.sub(r"\{[^}/]+\}", "example", path)
    return ("GET" if method == "ANY" else method), path.lstrip("/")


class StackNames:
    """The ARNs of a stack's names. Mixed into Stack: it reads the stack's find, resources, name, account and region."""

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
