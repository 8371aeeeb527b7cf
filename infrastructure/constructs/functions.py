"""The Lambda functions of ``picks.routes.FUNCTIONS`` and the two layers they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infrastructure import bundling, constants

if TYPE_CHECKING:
    from collections.abc import Mapping

    from picks.routes import Function

# Lambda's advanced logging controls name the levels slightly differently from Python's logging.
_LAMBDA_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


class LambdaFunctions(Construct):
    """One function per declaration: code ``functions/<name>/``, handler ``handler.lambda_handler``.

    Each function has its own role that may only write to its own log group (instead of the AWS
    managed AWSLambdaBasicExecutionRole, which allows any log group); data access is granted by
    the stack, per function.

    Attributes: ``functions`` (declaration name -> ``lambda_.Function``), ``library_layer`` (the
    first-party ``picks`` package), ``dependencies_layer`` (third-party wheels).
    """

    RUNTIME = next(r for r in lambda_.Runtime.ALL if r.name == f"python{constants.LAMBDA_PYTHON_VERSION}")
    ARCHITECTURE = lambda_.Architecture.X86_64  # the wheel platforms in constants are x86_64
    LOGGING_FORMAT = lambda_.LoggingFormat.JSON
    TRACING = lambda_.Tracing.ACTIVE
    LOG_RETENTION = logs.RetentionDays.ONE_MONTH

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        declarations: Mapping[str, Function],
        environment: Mapping[str, str],
        log_level: str,
        offline_dependencies: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._environment = {
            **environment,
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            "LOG_LEVEL": log_level,
            # Requests are single matrix-vector products: OpenBLAS threads only contend with each
            # other on Lambda's vCPUs (measured: p99 22 ms with 2 threads vs 6 ms with 1 under load).
            # The same for the other BLAS builds numpy may be linked with (OpenMP, MKL).
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self._log_level = _LAMBDA_LOG_LEVELS[log_level]

        self.library_layer = lambda_.LayerVersion(
            self,
            "LibraryLayer",
            code=bundling.library_layer_code(),
            compatible_runtimes=[self.RUNTIME],
            compatible_architectures=[self.ARCHITECTURE],
            description="picks: first-party library (python/picks)",
        )
        self.dependencies_layer = lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            code=bundling.dependencies_layer_code(offline=offline_dependencies),
            compatible_runtimes=[self.RUNTIME],
            compatible_architectures=[self.ARCHITECTURE],
            description=f"picks: third-party dependencies ({constants.LAYER_REQUIREMENTS.name})",
        )
        if offline_dependencies:
            Annotations.of(self.dependencies_layer).add_warning_v2(
                "picks:offline-dependencies",
                f"{constants.CONTEXT_OFFLINE_DEPENDENCIES} is set: the dependencies layer is a placeholder "
                "and this template must not be deployed.",
            )

        self.functions: dict[str, lambda_.Function] = {
            name: self._build_function(declaration) for name, declaration in declarations.items()
        }

    def _build_function(self, declaration: Function) -> lambda_.Function:
        source = constants.FUNCTIONS_DIR / declaration.name
        module, _, _ = declaration.handler.partition(".")
        if not (source / f"{module}.py").is_file():
            raise FileNotFoundError(
                f"{declaration.name}: expected its handler module at {source / module}.py"
            )
        name = constants.construct_id(declaration.name)
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=self.LOG_RETENTION,
            # Logs are diagnostics, not data: removing the stack should not leave them behind.
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"picks {declaration.name} function",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            name,
            description=declaration.description,
            runtime=self.RUNTIME,
            architecture=self.ARCHITECTURE,
            handler=declaration.handler,
            code=lambda_.Code.from_asset(str(source), exclude=["**/__pycache__", "**/*.pyc", "tests"]),
            layers=[self.dependencies_layer, self.library_layer],
            memory_size=declaration.memory_mb,
            timeout=Duration.seconds(declaration.timeout_s),
            environment=dict(self._environment),
            tracing=self.TRACING,
            logging_format=self.LOGGING_FORMAT,
            application_log_level_v2=self._log_level,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            role=role,
        )
