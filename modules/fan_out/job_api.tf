################################################################################
# Job API (create_job_api): POST /jobs, GET, PATCH and DELETE /jobs/{job_id}
################################################################################

locals {
  job_api_name = "${var.name}-jobs-api"

  # What execute-api:Invoke is allowed on, by what a caller does: <execution_arn>/<stage>/<METHOD>/<path>.
  job_api_route_arns = var.create_job_api ? {
    submit = "${module.job_http_api[0].execution_arn}/*/POST/jobs"
    status = "${module.job_http_api[0].execution_arn}/*/GET/jobs/*"
    cancel = "${module.job_http_api[0].execution_arn}/*/DELETE/jobs/*"
    change = "${module.job_http_api[0].execution_arn}/*/PATCH/jobs/*"
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

  # POST hands a spec over (asynchronously); PATCH asks for a new max_concurrency (synchronously).
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
    change = "PATCH /jobs/{job_id}"
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

################################################################################
# What a job's client needs: job_client_policy_json
################################################################################

locals {
  job_client_route_sids = {
    submit = "SubmitJobsThroughTheJobApi"
    status = "FollowJobsThroughTheJobApi"
    cancel = "CancelJobsThroughTheJobApi"
    change = "ChangeJobsThroughTheJobApi"
  }
  # IAM decides who calls a route only with AWS_IAM authorization: JWT takes the token's word, NONE anyone's.
  job_client_routes = var.job_api_authorization == "AWS_IAM" ? local.job_api_route_arns : {}
}

# Exactly the calls of serverless_patterns_ops (JobsClient and the CLI) for
# uploading inputs, submitting, following and cancelling jobs and reading
# their results; each statement names the calls that need it.
data "aws_iam_policy_document" "job_client" {
  # JobsClient.upload, `upload`, `submit FILE`: S3 upload_file puts under
  # inputs/<digest>/ (a large file in parts, all s3:PutObject, aborted on failure).
  statement {
    sid       = "UploadInputs"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.jobs.arn}/inputs/*"]
  }

  # JobsClient.result and .download, `result`, `download`: GetObject of
  # results/<job>/manifest.json and of the files it names. Nothing lists the
  # bucket, so there is no s3:ListBucket: a missing key answers 403, not 404.
  statement {
    sid       = "ReadResults"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.jobs.arn}/results/*"]
  }

  # The job API over HTTP (JobsClient, `--api`): SigV4-signed POST /jobs,
  # GET /jobs/{job_id} (status, wait), DELETE /jobs/{job_id} and PATCH /jobs/{job_id} (set_concurrency).
  dynamic "statement" {
    for_each = local.job_client_routes
    content {
      sid       = local.job_client_route_sids[statement.key]
      actions   = ["execute-api:Invoke"]
      resources = [statement.value]
    }
  }

  # JobsClient.invoking: the same requests, sent to the job API's function itself.
  dynamic "statement" {
    for_each = module.job_api[*].function_arn
    content {
      sid       = "CallTheJobApiFunction"
      actions   = ["lambda:InvokeFunction"]
      resources = [statement.value]
    }
  }

  # The CLI without --api: `submit`, `redrive-job` and `set-concurrency` invoke the ventilator and wait for its answer.
  statement {
    sid       = "SubmitJobsToTheVentilator"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.ventilator.function_arn]
  }

  # The CLI without --api: `status` (and the wait of `submit`) reads the job
  # (GetItem), its shards (BatchGetItem) and the errors of subtasks being
  # retried (Query); `result` and `download` read the job for its result.
  statement {
    sid       = "FollowJobsInTheTracker"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
    resources = [var.tracker_table_arn]
  }

  # The CLI without --api: `cancel` sets the job's stop (a conditional UpdateItem).
  statement {
    sid       = "CancelJobsInTheTracker"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.tracker_table_arn]
  }
}
