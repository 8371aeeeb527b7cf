"""The API Gateway REST API serving every route of ``picks.routes.routes()``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_cdk import aws_lambda as lambda_
    from picks.routes import Route


class PersonalizeApi(Construct):
    """A REGIONAL REST API with IAM (SigV4) authorization on every method, so stock boto3 clients
    signing for ``execute-api`` can call it (see ``picks.client``).

    The control plane is ``POST /`` (AWS JSON 1.1, dispatched on ``X-Amz-Target`` inside the
    function); runtime and events operations get one resource and method each, taken from
    botocore's REST-JSON ``requestUri``. Every method is a Lambda proxy integration.

    Attributes: ``rest_api``, ``methods`` (one per route, in route order), ``access_logs``, ``url``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: Sequence[Route],
        functions: Mapping[str, lambda_.IFunction],
        stage_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            # The name is the ApiName dimension of the API's metrics (and the 5XX alarm): the default, the
            # construct id, would be shared with every other CDK app's "RestApi" in the account.
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="picks: Amazon Personalize-compatible API (IAM / SigV4 for execute-api)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Access and execution logging need the account-level API Gateway CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would copy request bodies (user and item data) into logs
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        # Bodies are validated against botocore's models inside the functions, which answer with
        # Personalize's own error codes (InvalidInputException); a gateway model would answer
        # BadRequestException instead and diverge from the emulator. The validator still rejects
        # requests missing any parameter a method declares as required.
        self.validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )

        integrations = {
            name: apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False)
            for name, function in functions.items()
        }
        self.methods: list[apigw.Method] = []
        for route in routes:
            path = route.path.split("?", 1)[0]  # botocore requestUris may carry a literal query part
            resource = (
                self.rest_api.root if path.strip("/") == "" else self.rest_api.root.resource_for_path(path)
            )
            self.methods.append(
                resource.add_method(
                    route.method,
                    integrations[route.function],
                    authorization_type=apigw.AuthorizationType.IAM,
                    request_validator=self.validator,
                    operation_name=route.operation or f"{route.service} (X-Amz-Target)",
                )
            )
        self.url = self.rest_api.url
