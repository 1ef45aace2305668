"""Start the call recorder in a process that has this folder on PYTHONPATH (Python imports sitecustomize at
start-up).

Active only with IAM_CALL_LOG_DIR set and a principal named: AWS_LAMBDA_FUNCTION_NAME (a deployed
function: the emulator runs each handler as a subprocess of its own environment) or IAM_CALL_PRINCIPAL (a
caller, e.g. the CLI). Anything else, the emulator's server first of all, is left as it is. Nothing of
botocore is imported here: call_recorder patches it when the process imports it.
"""

import contextlib
import os


def _start_recorder() -> None:
    if not os.environ.get("IAM_CALL_LOG_DIR"):
        return
    if not (os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get("IAM_CALL_PRINCIPAL")):
        return
    import importlib.util
    import sys

    # Loaded from this folder under a name of its own: a function's zip could hold a module of any name.
    name = "_iam_check_call_recorder"
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), "call_recorder.py"))
    recorder = importlib.util.module_from_spec(spec)
    sys.modules[name] = recorder
    spec.loader.exec_module(recorder)
    recorder.activate_for_process(os.environ)


with contextlib.suppress(Exception):  # a recorder that cannot start must not stop the process it would watch
    _start_recorder()
