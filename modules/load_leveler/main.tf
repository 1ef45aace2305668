data "aws_partition" "current" {}

locals {
  # The settings in force: the given ones over the module's defaults.
  queue = merge({
    message_retention_seconds       = 345600
    dlq_message_retention_seconds   = 1209600
    max_receive_count               = 5
    depth_alarm_threshold           = 1000
    depth_alarm_evaluation_periods  = 5
    age_alarm_threshold_seconds     = null
    growth_alarm_threshold          = 500
    growth_alarm_evaluation_periods = 5
    kms_master_key_id               = null
  }, { for key, value in var.queue : key => value if value != null })

  producer_name = "${var.name}-producer"
  consumer_name = "${var.name}-consumer"

  # Each consumer instance is paced to writes_per_second_per_consumer, so the
  # downstream sees at most maximum_concurrency x that rate. 2 is the smallest
  # cap an SQS event source mapping accepts.
  derived_maximum_concurrency = min(1000, max(2, floor(var.downstream_write_capacity_units / var.writes_per_second_per_consumer)))
  maximum_concurrency         = coalesce(var.maximum_concurrency, local.derived_maximum_concurrency)
  # Two consumers at the configured rate may already exceed a small downstream
  # (or an overridden cap may): then each consumer is paced to its share.
  paced_writes_per_second = min(var.writes_per_second_per_consumer, var.downstream_write_capacity_units / local.maximum_concurrency)
  seconds_per_batch       = var.batch_size / local.paced_writes_per_second

  # Each request makes three AWS calls (idempotency record, SendMessage, record
  # completed); with their SDK timeouts and retries they end a second before the
  # function does, so a slow queue is answered 503, never cut off as a 500.
  producer_call_budget_seconds = floor((var.producer_timeout_seconds - 1) / 3)
  producer_sdk_max_attempts    = local.producer_call_budget_seconds >= 5 ? 2 : 1
  producer_sdk_read_timeout    = max(1, floor((local.producer_call_budget_seconds - (local.producer_sdk_max_attempts - 1)) / local.producer_sdk_max_attempts) - 1)

  visibility_timeout_seconds = coalesce(var.visibility_timeout_seconds, 6 * var.consumer_timeout_seconds + var.batching_window_seconds)

  table_name = var.create_table ? aws_dynamodb_table.downstream[0].name : var.table_name
  table_arn  = var.create_table ? aws_dynamodb_table.downstream[0].arn : var.table_arn

  common_environment = merge({
    POWERTOOLS_METRICS_NAMESPACE = "ServerlessPatterns/LoadLeveler"
    POWERTOOLS_LOG_LEVEL         = var.log_level
  }, var.environment_variables)
}

module "queue" {
  source = "../dlq_monitoring"

  name                            = "${var.name}-requests"
  visibility_timeout_seconds      = local.visibility_timeout_seconds
  message_retention_seconds       = local.queue.message_retention_seconds
  dlq_message_retention_seconds   = local.queue.dlq_message_retention_seconds
  max_receive_count               = local.queue.max_receive_count
  depth_alarm_threshold           = local.queue.depth_alarm_threshold
  depth_alarm_evaluation_periods  = local.queue.depth_alarm_evaluation_periods
  age_alarm_threshold_seconds     = local.queue.age_alarm_threshold_seconds
  growth_alarm_threshold          = local.queue.growth_alarm_threshold
  growth_alarm_evaluation_periods = local.queue.growth_alarm_evaluation_periods
  runbook_url                     = var.runbook_url
  kms_master_key_id               = local.queue.kms_master_key_id
  create_alert_topic              = var.create_alert_topic
  alert_topic_arn                 = var.alert_topic_arn
  tags                            = var.tags
}

################################################################################
# Downstream
################################################################################

resource "aws_dynamodb_table" "downstream" {
  count = var.create_table ? 1 : 0

  name                        = "${var.name}-requests"
  billing_mode                = "PROVISIONED"
  read_capacity               = var.downstream_read_capacity_units
  write_capacity              = var.downstream_write_capacity_units
  hash_key                    = "request_id"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "request_id"
    type = "S"
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = var.table_point_in_time_recovery
  }

  tags = var.tags
}

# The producer's memory of request ids (Powertools idempotency records): small,
# short-lived items on demand, apart from the downstream's provisioned capacity.
resource "aws_dynamodb_table" "request_ids" {
  name                        = "${var.name}-request-ids"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = var.table_point_in_time_recovery
  }

  tags = var.tags
}

################################################################################
# Functions, each with its own role and least-privilege policy
################################################################################

data "aws_iam_policy_document" "producer" {
  statement {
    sid       = "Enqueue"
    actions   = ["sqs:SendMessage"]
    resources = [module.queue.queue_arn]
  }

  statement {
    sid       = "RememberRequestIds"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.request_ids.arn]
  }

  dynamic "statement" {
    for_each = local.queue.kms_master_key_id == null ? [] : [local.queue.kms_master_key_id]
    content {
      sid       = "EncryptQueueMessages"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "consumer" {
  statement {
    sid       = "ConsumeQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [module.queue.queue_arn]
  }

  statement {
    sid       = "WriteDownstream"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem"]
    resources = [local.table_arn]
  }

  dynamic "statement" {
    for_each = local.queue.kms_master_key_id == null ? [] : [local.queue.kms_master_key_id]
    content {
      sid       = "DecryptQueueMessages"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

module "producer" {
  source = "../lambda_function"

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = true
  alarm_topic_arn = module.queue.alert_topic_arn
  runbook_url     = var.runbook_url

  name               = local.producer_name
  description        = "Validates write requests, queues them and answers 202"
  package_path       = var.producer_package_path
  handler            = "load_leveler_producer.handler.lambda_handler"
  runtime            = var.runtime
  architecture       = var.architecture
  timeout_seconds    = var.producer_timeout_seconds
  memory_size        = var.memory_size
  policy_json        = data.aws_iam_policy_document.producer.json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  reserved_concurrent_executions = var.producer_reserved_concurrency

  environment_variables = merge(local.common_environment, {
    QUEUE_URL                   = module.queue.queue_url
    IDEMPOTENCY_TABLE_NAME      = aws_dynamodb_table.request_ids.name
    IDEMPOTENCY_WINDOW_SECONDS  = tostring(var.idempotency_window_seconds)
    SDK_CONNECT_TIMEOUT_SECONDS = "1"
    SDK_READ_TIMEOUT_SECONDS    = tostring(local.producer_sdk_read_timeout)
    SDK_MAX_ATTEMPTS            = tostring(local.producer_sdk_max_attempts)
  })
}

module "consumer" {
  source = "../lambda_function"

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = true
  alarm_topic_arn = module.queue.alert_topic_arn
  runbook_url     = var.runbook_url

  name               = local.consumer_name
  description        = "Drains the request queue into the downstream at a capped rate"
  package_path       = var.consumer_package_path
  handler            = "load_leveler_consumer.handler.lambda_handler"
  runtime            = var.runtime
  architecture       = var.architecture
  timeout_seconds    = var.consumer_timeout_seconds
  memory_size        = var.memory_size
  policy_json        = data.aws_iam_policy_document.consumer.json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  reserved_concurrent_executions = var.consumer_reserved_concurrency

  environment_variables = merge(local.common_environment, {
    TABLE_NAME                     = local.table_name
    WRITES_PER_SECOND_PER_CONSUMER = tostring(local.paced_writes_per_second)
  })
}

resource "aws_lambda_event_source_mapping" "consumer" {
  event_source_arn                   = module.queue.queue_arn
  function_name                      = module.consumer.function_arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = local.maximum_concurrency
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.seconds_per_batch <= 0.8 * var.consumer_timeout_seconds
      error_message = "A batch of ${var.batch_size} records paced at ${local.paced_writes_per_second} writes/s takes ${local.seconds_per_batch} s, more than 80% of consumer_timeout_seconds (${var.consumer_timeout_seconds}): lower batch_size to at most ${floor(0.8 * var.consumer_timeout_seconds * local.paced_writes_per_second)} or raise consumer_timeout_seconds."
    }
    precondition {
      condition     = var.consumer_reserved_concurrency == -1 || var.consumer_reserved_concurrency >= local.maximum_concurrency
      error_message = "consumer_reserved_concurrency (${var.consumer_reserved_concurrency}) is below the event source mapping's maximum concurrency (${local.maximum_concurrency}): raise it to at least ${local.maximum_concurrency}, or leave it at -1."
    }
  }
}

# The consumers' pace should keep the downstream from ever throttling them; a
# throttled write (retried by SQS, never lost) says the pace or capacity is off.
resource "aws_cloudwatch_metric_alarm" "writes_throttled" {
  alarm_name          = "${var.name}-writes-throttled"
  alarm_description   = "The downstream table throttled consumer writes: SQS delivers them again, but the pace (writes_per_second_per_consumer x maximum_concurrency) exceeds what the table takes. Lower it or raise the table's capacity.${var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"}"
  namespace           = local.common_environment.POWERTOOLS_METRICS_NAMESPACE
  metric_name         = "WritesThrottled"
  dimensions          = { service = module.consumer.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.queue.alert_topic_arn]
  ok_actions          = [module.queue.alert_topic_arn]
  tags                = var.tags
}

################################################################################
# HTTP entry point
################################################################################

module "http_api" {
  source = "../http_api"
  count  = var.create_http_api ? 1 : 0

  name                             = var.name
  description                      = "Accepts write requests for ${var.name}"
  function_name                    = module.producer.function_name
  function_invoke_arn              = module.producer.invoke_arn
  routes                           = { submit = "POST /requests" }
  invoke_path                      = "requests"
  authorization_type               = var.api_authorization_type
  throttling_rate_limit            = var.api_throttling_rate_limit
  throttling_burst_limit           = var.api_throttling_burst_limit
  integration_timeout_milliseconds = (var.producer_timeout_seconds + 1) * 1000
  log_retention_days               = var.log_retention_days
  tags                             = var.tags
}

# The HTTP API was built here before modules/http_api held it.
moved {
  from = aws_apigatewayv2_api.this[0]
  to   = module.http_api[0].aws_apigatewayv2_api.this
}

moved {
  from = aws_apigatewayv2_integration.producer[0]
  to   = module.http_api[0].aws_apigatewayv2_integration.this
}

moved {
  from = aws_apigatewayv2_route.submit[0]
  to   = module.http_api[0].aws_apigatewayv2_route.this["submit"]
}

moved {
  from = aws_cloudwatch_log_group.api_access[0]
  to   = module.http_api[0].aws_cloudwatch_log_group.access
}

moved {
  from = aws_apigatewayv2_stage.default[0]
  to   = module.http_api[0].aws_apigatewayv2_stage.default
}

moved {
  from = aws_lambda_permission.api[0]
  to   = module.http_api[0].aws_lambda_permission.this
}
