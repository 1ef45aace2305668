data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  status_index      = "by-status"
  consolidator_name = "${var.name}-consolidator"
  # Built rather than referenced: the consolidator starts its own final merge,
  # and its policy cannot depend on the function it grants.
  consolidator_arn = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${local.consolidator_name}"
  environment = merge({
    POWERTOOLS_METRICS_NAMESPACE = "ServerlessPatterns/FanOut"
    POWERTOOLS_LOG_LEVEL         = var.log_level
    TRACKER_TABLE                = aws_dynamodb_table.tracker.name
  }, var.environment_variables)
}

################################################################################
# Tracker table: a partition per job (its JOB item) and per shard of a job
# (its SHARD, TASK and ERROR items), all expiring through TTL
################################################################################

resource "aws_dynamodb_table" "tracker" {
  name                        = "${var.name}-jobs"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "status"
    type = "S"
  }

  attribute {
    name = "deadline"
    type = "S"
  }

  # Sparse: only job items and shards waiting for their reduction carry
  # status, so the sweeper reads those, never subtasks.
  global_secondary_index {
    name            = local.status_index
    hash_key        = "status"
    range_key       = "deadline"
    projection_type = "ALL"
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  # The ventilator sets expires_at on every item: the job's deadline plus the
  # fan_out module's job_retention_days.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  tags = var.tags
}

resource "aws_sns_topic" "job_events" {
  name              = "${var.name}-job-events"
  kms_master_key_id = var.job_events_kms_master_key_id
  tags              = var.tags
}

# Only the consolidator publishes, through its role's own policy; the topic
# refuses anything sent without TLS.
module "job_events_policy" {
  source = "../deny_insecure_transport"

  actions   = ["sns:Publish"]
  resources = [aws_sns_topic.job_events.arn]
}

resource "aws_sns_topic_policy" "job_events" {
  arn    = aws_sns_topic.job_events.arn
  policy = module.job_events_policy.json
}

################################################################################
# Consolidator
################################################################################

data "aws_iam_policy_document" "consolidator" {
  statement {
    sid       = "ReduceAndFinishJobs"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.tracker.arn]
  }

  statement {
    sid       = "ReadPartialResults"
    actions   = ["s3:GetObject"]
    resources = ["${var.job_bucket_arn}/partials/*"]
  }

  # Shard results and staged job results: the consolidator's own, which no worker may write.
  statement {
    sid       = "ReduceShards"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.job_bucket_arn}/reductions/*"]
  }

  # A redriven job's shards rewrite their results by status, and remove the ones no longer true.
  # A status file larger than a part goes up in parts (s3:PutObject), aborted if the reduction fails.
  statement {
    sid       = "WriteResults"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.job_bucket_arn}/results/*"]
  }

  statement {
    sid       = "StartFinalMerge"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.consolidator_arn]
  }

  statement {
    sid       = "AnnounceFinishedJobs"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.job_events.arn]
  }

  # A customer managed key must let the publisher encrypt; AWS's own key needs no grant.
  dynamic "statement" {
    for_each = var.job_events_kms_master_key_id == "alias/aws/sns" ? [] : [var.job_events_kms_master_key_id]
    content {
      sid       = "EncryptJobEvents"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

module "consolidator" {
  source = "../lambda_function"

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = var.create_function_alarms
  alarm_topic_arn = var.alert_topic_arn
  runbook_url     = var.runbook_url

  name               = local.consolidator_name
  description        = "Reduces a job's shards and merges them into its final output"
  package_path       = var.consolidator_package_path
  handler            = "fan_in_consolidator.handler.lambda_handler"
  architecture       = var.architecture
  timeout_seconds    = var.consolidator_timeout_seconds
  memory_size        = var.consolidator_memory_size
  policy_json        = data.aws_iam_policy_document.consolidator.json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  keep_failed_async_invocations    = var.keep_failed_async_invocations
  async_on_failure_destination_arn = var.async_failure_destination_arn
  # The sweeper retries a failed or lost run, each once: Lambda retrying it
  # too would spend the job's failure budget twice as fast.
  async_maximum_retry_attempts = 0

  environment_variables = merge(local.environment, {
    JOB_BUCKET                  = var.job_bucket_name
    JOB_EVENTS_TOPIC_ARN        = aws_sns_topic.job_events.arn
    WORKLOADS                   = jsonencode(var.workloads)
    CONSOLIDATOR_FUNCTION       = local.consolidator_name
    CONSOLIDATION_MAX_FAILURES  = tostring(var.consolidation_max_failures)
    CONSOLIDATION_GRACE_SECONDS = tostring(var.consolidation_grace_seconds)
  })
}

# A job whose consolidation runs failed consolidation_max_failures times
# ends FAILED; the consolidator counts it in ConsolidationsAbandoned.
resource "aws_cloudwatch_metric_alarm" "consolidations_abandoned" {
  count = var.create_function_alarms ? 1 : 0

  alarm_name          = "${var.name}-consolidations-abandoned"
  alarm_description   = "A job ended FAILED because its consolidation runs failed ${var.consolidation_max_failures} times (error.field = consolidation in the job record and its job-finished event).${var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"}"
  namespace           = local.environment.POWERTOOLS_METRICS_NAMESPACE
  metric_name         = "ConsolidationsAbandoned"
  dimensions          = { service = module.consolidator.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alert_topic_arn]
  ok_actions          = [var.alert_topic_arn]
  tags                = var.tags
}

################################################################################
# Sweeper: times out overdue jobs and retries lost consolidations
################################################################################

data "aws_iam_policy_document" "sweeper" {
  statement {
    sid       = "FindJobsByStatus"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.tracker.arn}/index/${local.status_index}"]
  }

  statement {
    sid       = "TimeOutJobs"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.tracker.arn]
  }

  statement {
    sid       = "StartConsolidator"
    actions   = ["lambda:InvokeFunction"]
    resources = [module.consolidator.function_arn]
  }
}

module "sweeper" {
  source = "../lambda_function"

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = var.create_function_alarms
  alarm_topic_arn = var.alert_topic_arn
  runbook_url     = var.runbook_url

  name               = "${var.name}-sweeper"
  description        = "Times out overdue jobs and restarts lost consolidations"
  package_path       = var.sweeper_package_path
  handler            = "fan_in_sweeper.handler.lambda_handler"
  architecture       = var.architecture
  timeout_seconds    = 60
  policy_json        = data.aws_iam_policy_document.sweeper.json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  environment_variables = merge(local.environment, {
    STATUS_INDEX                = local.status_index
    CONSOLIDATOR_FUNCTION       = module.consolidator.function_name
    CONSOLIDATION_GRACE_SECONDS = tostring(var.consolidation_grace_seconds)
  })
}

resource "aws_cloudwatch_event_rule" "sweep" {
  name                = "${var.name}-sweep"
  description         = "Runs the ${var.name} sweeper"
  schedule_expression = var.sweep_schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule = aws_cloudwatch_event_rule.sweep.name
  arn  = module.sweeper.function_arn
}

resource "aws_lambda_permission" "sweep" {
  statement_id  = "AllowScheduledSweep"
  action        = "lambda:InvokeFunction"
  function_name = module.sweeper.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep.arn
}
