################################################################################
# Job API (create_job_api): POST /jobs, GET and DELETE /jobs/{job_id}
################################################################################

locals {
  job_api_name = "${var.name}-jobs-api"
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

module "job_http_api" {
  source = "../http_api"
  count  = var.create_job_api ? 1 : 0

  name                = local.job_api_name
  description         = "Starts, reports and cancels the jobs of ${var.name}"
  function_name       = module.job_api[0].function_name
  function_invoke_arn = module.job_api[0].invoke_arn
  routes = {
    submit = "POST /jobs"
    status = "GET /jobs/{job_id}"
    cancel = "DELETE /jobs/{job_id}"
  }
  invoke_path                      = "jobs*"
  authorization_type               = var.job_api_authorization
  jwt                              = var.job_api_jwt
  throttling_rate_limit            = var.job_api_throttling_rate_limit
  throttling_burst_limit           = var.job_api_throttling_burst_limit
  integration_timeout_milliseconds = 11000
  log_retention_days               = var.log_retention_days
  tags                             = var.tags
}
