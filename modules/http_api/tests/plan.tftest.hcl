# Plan-level tests: offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name                             = "orders-api"
  function_name                    = "orders-producer"
  function_invoke_arn              = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:orders-producer/invocations"
  routes                           = { submit = "POST /orders", status = "GET /orders/{id}" }
  invoke_path                      = "orders*"
  throttling_rate_limit            = 20
  throttling_burst_limit           = 40
  integration_timeout_milliseconds = 6000
  log_retention_days               = 14
  tags                             = {}
}

run "routes_signed_throttled_logged_and_invoked_on_their_path_only" {
  command = plan

  override_resource {
    target          = aws_apigatewayv2_api.this
    values          = { execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123" }
    override_during = plan
  }

  assert {
    condition     = output.route_keys == { submit = "POST /orders", status = "GET /orders/{id}" } && output.authorization_type == "AWS_IAM"
    error_message = "Every route must be created, signed (AWS_IAM) by default."
  }
  assert {
    condition     = output.throttling == { rate_limit = 20, burst_limit = 40 } && aws_cloudwatch_log_group.access.retention_in_days == 14
    error_message = "The stage must be throttled and its access logs kept log_retention_days."
  }
  assert {
    condition     = aws_lambda_permission.this.source_arn == "arn:aws:execute-api:eu-west-1:123456789012:abc123/*/*/orders*" && aws_lambda_permission.this.principal == "apigateway.amazonaws.com"
    error_message = "API Gateway may invoke the function on the API's own path only."
  }
  assert {
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 0
    error_message = "No JWT authorizer unless asked."
  }
}

run "rejects_bad_routes_paths_timeouts_and_authorization" {
  command = plan

  variables {
    routes                           = { submit = "FETCH orders" }
    invoke_path                      = "/orders"
    integration_timeout_milliseconds = 60000
    authorization_type               = "JWT"
    jwt                              = null
  }

  expect_failures = [var.routes, var.invoke_path, var.integration_timeout_milliseconds, var.jwt]
}
