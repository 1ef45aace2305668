"""Record every AWS request a process makes, one JSON line per call, for the IAM check (tests/iam_check).

Two patches do the recording:

- `botocore.client.BaseClient._make_api_call`: every SDK call (a client's, a resource's, a paginator's,
  an S3 transfer's), recorded when attempted, before it is sent, whether it then succeeds or fails;
- `botocore.auth.SigV4Auth.add_auth` for the service "execute-api": the job API's HTTP requests, which
  serverless_patterns_ops.http_api signs with SigV4 itself (operation: the HTTP method, params: the URL).

Who made the call (the principal) is, first, the label of an enclosing `recording_as(label)` (a caller in
this process, e.g. a test driving JobsClient), else the process's own: a deployed function
(AWS_LAMBDA_FUNCTION_NAME) or a caller process (IAM_CALL_PRINCIPAL), as `activate_for_process` read them at
start-up (sitecustomize.py calls it). A call with no principal is not recorded.

Lines go to IAM_CALL_LOG_DIR/<principal>-<pid>.jsonl, appended and flushed one by one, so a process that
dies keeps what it recorded. Only the parameters that identify resources are kept (`identifying_params`).

Recording never raises into the caller: a broken recorder must not break the function it watches. This
module imports nothing of botocore itself (a function's zip may bundle its own botocore): the patches are
applied to whichever botocore the process imports, when it imports it (`PatchOnImport`).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.abc
import importlib.machinery
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

LOG_DIR_VARIABLE = "IAM_CALL_LOG_DIR"
CALLER_VARIABLE = "IAM_CALL_PRINCIPAL"
FUNCTION_VARIABLE = "AWS_LAMBDA_FUNCTION_NAME"

# The parameters kept as they are: the ones that name a resource, or that decide which IAM actions and
# condition keys a request needs (the KMS key of an encrypted write, an invocation's type, a listing's prefix).
IDENTIFYING_PARAMS = (
    "Bucket",
    "Key",
    "Prefix",
    "CopySource",
    "QueueUrl",
    "QueueName",
    "TableName",
    "IndexName",
    "FunctionName",
    "Qualifier",
    "InvocationType",
    "TopicArn",
    "TargetArn",
    "SourceArn",
    "DestinationArn",
    "LogGroupName",
    "Namespace",
    "KeyId",
    "ServerSideEncryption",
    "SSEKMSKeyId",
    "Delimiter",
    "StartAfter",
)
# Marks a patched function, so a second install (another recording_as, a re-imported module) wraps nothing twice.
PATCHED_MARK = "__iam_call_recorder_original__"

Principal = tuple[str, str]  # (principal_kind: "function" | "caller", principal: function name or caller label)

_caller_label: contextvars.ContextVar[str | None] = contextvars.ContextVar("iam_call_recorder_caller", default=None)
_process_principal: Principal | None = None


# -- who is calling ---------------------------------------------------------------------------------------


def principal_of_environment(environ: Mapping[str, str]) -> Principal | None:
    """The principal a process records its calls under, from its environment; None when it records nothing.

    A deployed function wins over a caller label: a Lambda subprocess inherits the emulator's environment,
    which must never make a function's calls look like a person's.
    """
    if not environ.get(LOG_DIR_VARIABLE):
        return None
    if environ.get(FUNCTION_VARIABLE):
        return ("function", environ[FUNCTION_VARIABLE])
    if environ.get(CALLER_VARIABLE):
        return ("caller", environ[CALLER_VARIABLE])
    return None


def current_principal() -> Principal | None:
    label = _caller_label.get()
    if label:
        return ("caller", label)
    return _process_principal


@contextlib.contextmanager
def recording_as(label: str) -> Iterator[None]:
    """Record the calls made inside this block (in this thread or task) as caller `label`.

    For callers driven in a process that is not theirs (a test's JobsClient in the pytest process). A
    contextvar, so the test's own calls outside the block stay unrecorded; threads started inside the
    block do not inherit it (Python copies no context into a new thread).
    """
    install()
    token = _caller_label.set(label)
    try:
        yield
    finally:
        _caller_label.reset(token)


# -- what is recorded -------------------------------------------------------------------------------------


def _distinct(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def identifying_params(params: Mapping[str, Any], service: str = "") -> dict[str, Any]:
    """The parameters of a call that the IAM check needs; the rest (bodies, items, messages) is dropped.

    TransactItems keep each item's kind and table; RequestItems (BatchWriteItem, BatchGetItem) each table's
    kinds of request; S3 DeleteObjects the keys it deletes; EventBridge PutEvents each entry's bus; an
    execute-api request its URL.
    """
    if service == "execute-api":
        return {"url": params.get("url")}
    kept = {name: params[name] for name in IDENTIFYING_PARAMS if name in params}
    if not isinstance(kept.get("Key", ""), str):
        del kept["Key"]  # a DynamoDB item's key is data, not a resource: only an S3 object's key is kept
    if isinstance(params.get("TransactItems"), list):
        kept["TransactItems"] = [
            {kind: {"TableName": body.get("TableName")} for kind, body in item.items() if isinstance(body, dict)}
            for item in params["TransactItems"]
            if isinstance(item, dict)
        ]
    if isinstance(params.get("RequestItems"), dict):
        kept["RequestItems"] = {
            table: _distinct([kind for entry in requests if isinstance(entry, dict) for kind in entry])
            if isinstance(requests, list)
            else ["Keys"]
            for table, requests in params["RequestItems"].items()
        }
    delete = params.get("Delete")
    if isinstance(delete, dict) and isinstance(delete.get("Objects"), list):
        kept["Delete"] = {"Objects": [{"Key": item.get("Key")} for item in delete["Objects"] if isinstance(item, dict)]}
    if service == "events" and isinstance(params.get("Entries"), list):
        buses = [entry.get("EventBusName") for entry in params["Entries"] if isinstance(entry, dict)]
        kept["Entries"] = [{"EventBusName": bus or "default"} for bus in buses]
    return kept


def call_record(
    principal: Principal, service: str, operation: str, params: dict[str, Any], region: str | None
) -> dict[str, Any]:
    return {
        "principal_kind": principal[0],
        "principal": principal[1],
        "service": service,
        "operation": operation,
        "params": params,
        "region": region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    }


# -- where it is written ----------------------------------------------------------------------------------


class CallLog:
    """The process's log files, one per principal: <principal>-<pid>.jsonl, opened on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, Any] = {}

    def append(self, record: dict[str, Any]) -> None:
        log_dir = os.environ.get(LOG_DIR_VARIABLE)
        if not log_dir:
            return
        line = json.dumps(record, default=str) + "\n"
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", record["principal"])
        # The pid in the name: a forked child writes a file of its own.
        path = os.path.join(log_dir, f"{safe_name}-{os.getpid()}.jsonl")
        with self._lock:
            log = self._files.get(path)
            # A warm function process outlives a test run, whose start empties the folder: a file deleted
            # since it was opened is opened again, or the lines would go to a file no one can read.
            if log is None or not os.path.exists(path):
                if log is not None:
                    log.close()
                os.makedirs(log_dir, exist_ok=True)
                log = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the process's life
                self._files[path] = log
            log.write(line)
            log.flush()


_call_log = CallLog()


def record(service: str, operation: str, params: Mapping[str, Any], region: str | None) -> None:
    """Append one call for the current principal; nothing without one. Never raises."""
    with contextlib.suppress(Exception):  # the recorder must never break the code it watches
        principal = current_principal()
        if principal is not None:
            _call_log.append(call_record(principal, service, operation, identifying_params(params, service), region))


# -- the patches ------------------------------------------------------------------------------------------


def patch_client_module(client_module: ModuleType) -> None:
    """Wrap BaseClient._make_api_call of this botocore.client module (once)."""
    base_client = client_module.BaseClient
    original = base_client._make_api_call
    if hasattr(original, PATCHED_MARK):
        return

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if current_principal() is not None:
            try:
                service = self.meta.service_model.service_name
                region = self.meta.region_name
            except Exception:
                service, region = "unknown", None
            record(service, operation_name, api_params or {}, region)
        return original(self, operation_name, api_params)

    setattr(_make_api_call, PATCHED_MARK, original)
    base_client._make_api_call = _make_api_call


def patch_auth_module(auth_module: ModuleType) -> None:
    """Wrap SigV4Auth.add_auth of this botocore.auth module (once): requests signed for execute-api."""
    signer = auth_module.SigV4Auth
    original = signer.add_auth
    if hasattr(original, PATCHED_MARK):
        return

    def add_auth(self: Any, request: Any) -> Any:
        if getattr(self, "_service_name", None) == "execute-api" and current_principal() is not None:
            with contextlib.suppress(Exception):
                record("execute-api", request.method, {"url": request.url}, getattr(self, "_region_name", None))
        return original(self, request)

    setattr(add_auth, PATCHED_MARK, original)
    signer.add_auth = add_auth


PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "botocore.client": patch_client_module,
    "botocore.auth": patch_auth_module,
}


def _patch_quietly(patch: Callable[[ModuleType], None], module: ModuleType) -> None:
    with contextlib.suppress(Exception):  # an unexpected botocore leaves the process unrecorded, not broken
        patch(module)


def install() -> None:
    """Patch this process's botocore now (importing it): for a process that records under recording_as."""
    for name, patch in PATCHES.items():
        _patch_quietly(patch, importlib.import_module(name))


class PatchingLoader(importlib.abc.Loader):
    """A module's own loader, then its patch once the module has run."""

    def __init__(self, loader: importlib.abc.Loader, patch: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _patch_quietly(self._patch, module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, get_data...: the real loader's
        return getattr(self._loader, name)


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches botocore.client and botocore.auth when they are imported, from wherever they come."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None):
        patch = PATCHES.get(fullname)
        if patch is None:
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return None
            spec.loader = PatchingLoader(spec.loader, patch)
            return spec
        except Exception:  # the regular import goes on unpatched rather than failing
            return None


def activate_for_process(environ: Mapping[str, str]) -> bool:
    """Record this process's calls under the principal its environment names (sitecustomize calls this at
    start-up); False, and nothing changed, when it names none."""
    global _process_principal
    principal = principal_of_environment(environ)
    if principal is None:
        return False
    _process_principal = principal
    for name, patch in PATCHES.items():
        if name in sys.modules:
            _patch_quietly(patch, sys.modules[name])
    if not any(isinstance(finder, PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, PatchOnImport())
    return True
