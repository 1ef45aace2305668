"""LocalStack's Lambda service on a host without Docker (LAMBDA_RUNTIME_EXECUTOR=no-docker).

LocalStack prepares every new function version for its Docker executor: it
downloads the runtime-init binary and pulls the runtime image. Without Docker
that fails and the function ends Failed, so Terraform, which waits for Active,
cannot apply a stack that holds a function. This executor prepares nothing:
functions, versions and event source mappings are created as on AWS and
become Active, and running one fails with an error that says why.
"""

from __future__ import annotations

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

NO_DOCKER = (
    "this LocalStack runs without Docker (make test-localstack) and cannot run Lambda code: "
    "the tests that run a function are marked lambda_runtime and run on MiniStack (make test)"
)


class NoDockerRuntimeExecutor(RuntimeExecutor):
    def start(self, env_vars: dict[str, str]) -> None:
        raise LambdaRuntimeException(NO_DOCKER)

    def stop(self) -> None:
        pass

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return ""

    def invoke(self, payload: dict[str, str]):
        raise LambdaRuntimeException(NO_DOCKER)

    def get_logs(self) -> str:
        return ""

    @classmethod
    def prepare_version(cls, function_version) -> None:
        pass

    @classmethod
    def cleanup_version(cls, function_version) -> None:
        pass


class NoDockerRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "no-docker"

    def load(self, *args, **kwargs) -> type[RuntimeExecutor]:
        return NoDockerRuntimeExecutor
