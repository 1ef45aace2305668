################################################################################
# Job API (create_job_api): POST /jobs, GET and DELETE /jobs/{job_id}
################################################################################

locals {
  job_api_name = "${var.name}-jobs-api"
  job_api_routes = var.create_job_api ? {
    submit = "POST /jobs"
    status = "GET /jobs/{job_id}"
    cancel = "DELETE /jobs/{job_id}"
  } : {}
}

data "aws_iam_policy_document" "job_api" {
  count = var.create_job_api ? 1 : 0

  # GET reads the job and its shards; DELETE sets its stop.
  statement {
    sid       = "ReadAndCancelJobs"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
    resources = [var.tracker_table_arn]
  }

  statement {
    sid       = "HandSpecsToTheVentilator"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.ventilator.function_arn]
  }
}

module "job_api" {
  source = "../lambda_function"
  count  = var.create_job_api ? 1 : 0

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = true
  alarm_topic_arn = module.queue.alert_topic_arn
  runbook_url     = var.runbook_url

  name               = local.job_api_name
  description        = "Starts, reports and cancels fan-out jobs over HTTP"
  package_path       = var.api_package_path
  handler            = "fan_out_api.handler.lambda_handler"
  architecture       = var.architecture
  timeout_seconds    = 10
  memory_size        = 512
  policy_json        = data.aws_iam_policy_document.job_api[0].json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  environment_variables = merge(local.environment, local.spec_environment, {
    VENTILATOR_FUNCTION = module.ventilator.function_name
  })
}

resource "aws_apigatewayv2_api" "jobs" {
  count = var.create_job_api ? 1 : 0

  name          = local.job_api_name
  description   = "Starts, reports and cancels the jobs of ${var.name}"
  protocol_type = "HTTP"
  tags          = var.tags
}

resource "aws_apigatewayv2_integration" "jobs" {
  count = var.create_job_api ? 1 : 0

  api_id                 = aws_apigatewayv2_api.jobs[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.job_api[0].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 11000
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = var.create_job_api && var.job_api_authorization == "JWT" ? 1 : 0

  api_id           = aws_apigatewayv2_api.jobs[0].id
  name             = "${local.job_api_name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.job_api_jwt.issuer
    audience = var.job_api_jwt.audience
  }
}

resource "aws_apigatewayv2_route" "jobs" {
  # checkov:skip=CKV_AWS_309:It is var.job_api_authorization, AWS_IAM unless set to JWT or NONE (validated); tests/integration/test_env_plans.py checks the planned value.
  for_each = local.job_api_routes

  api_id             = aws_apigatewayv2_api.jobs[0].id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.jobs[0].id}"
  authorization_type = var.job_api_authorization
  authorizer_id      = var.job_api_authorization == "JWT" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_cloudwatch_log_group" "job_api_access" {
  count = var.create_job_api ? 1 : 0

  name              = "/aws/apigateway/${local.job_api_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "jobs" {
  count = var.create_job_api ? 1 : 0

  api_id      = aws_apigatewayv2_api.jobs[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.job_api_throttling_burst_limit
    throttling_rate_limit  = var.job_api_throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.job_api_access[0].arn
    format = jsonencode({
      requestId      = "$context.requestId"
      ip             = "$context.identity.sourceIp"
      caller         = "$context.identity.caller"
      requestTime    = "$context.requestTime"
      routeKey       = "$context.routeKey"
      status         = "$context.status"
      responseLength = "$context.responseLength"
      latency        = "$context.integrationLatency"
    })
  }

  tags = var.tags
}

resource "aws_lambda_permission" "job_api" {
  count = var.create_job_api ? 1 : 0

  statement_id  = "AllowJobApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = module.job_api[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.jobs[0].execution_arn}/*/*/jobs*"
}
