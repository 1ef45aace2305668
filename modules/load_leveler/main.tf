data "aws_partition" "current" {}

locals {
  producer_name = "${var.name}-producer"
  consumer_name = "${var.name}-consumer"

  # Each consumer instance is paced to writes_per_second_per_consumer, so the
  # downstream sees at most maximum_concurrency x that rate. 2 is the smallest
  # cap an SQS event source mapping accepts.
  derived_maximum_concurrency = min(1000, max(2, floor(var.downstream_write_capacity_units / var.writes_per_second_per_consumer)))
  maximum_concurrency         = coalesce(var.maximum_concurrency, local.derived_maximum_concurrency)

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
  message_retention_seconds       = var.queue.message_retention_seconds
  dlq_message_retention_seconds   = var.queue.dlq_message_retention_seconds
  max_receive_count               = var.queue.max_receive_count
  depth_alarm_threshold           = var.queue.depth_alarm_threshold
  depth_alarm_evaluation_periods  = var.queue.depth_alarm_evaluation_periods
  age_alarm_threshold_seconds     = var.queue.age_alarm_threshold_seconds
  growth_alarm_threshold          = var.queue.growth_alarm_threshold
  growth_alarm_evaluation_periods = var.queue.growth_alarm_evaluation_periods
  runbook_url                     = var.runbook_url
  kms_master_key_id               = var.queue.kms_master_key_id
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

################################################################################
# Functions, each with its own role and least-privilege policy
################################################################################

data "aws_iam_policy_document" "producer" {
  statement {
    sid       = "Enqueue"
    actions   = ["sqs:SendMessage"]
    resources = [module.queue.queue_arn]
  }

  dynamic "statement" {
    for_each = var.queue.kms_master_key_id == null ? [] : [var.queue.kms_master_key_id]
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
    actions   = ["dynamodb:PutItem"]
    resources = [local.table_arn]
  }

  dynamic "statement" {
    for_each = var.queue.kms_master_key_id == null ? [] : [var.queue.kms_master_key_id]
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

  environment_variables = merge(local.common_environment, {
    QUEUE_URL = module.queue.queue_url
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

  environment_variables = merge(local.common_environment, {
    TABLE_NAME                     = local.table_name
    WRITES_PER_SECOND_PER_CONSUMER = tostring(var.writes_per_second_per_consumer)
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
}

################################################################################
# HTTP entry point
################################################################################

resource "aws_apigatewayv2_api" "this" {
  count = var.create_http_api ? 1 : 0

  name          = var.name
  description   = "Accepts write requests for ${var.name}"
  protocol_type = "HTTP"
  tags          = var.tags
}

resource "aws_apigatewayv2_integration" "producer" {
  count = var.create_http_api ? 1 : 0

  api_id                 = aws_apigatewayv2_api.this[0].id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.producer.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = (var.producer_timeout_seconds + 1) * 1000
}

resource "aws_apigatewayv2_route" "submit" {
  # checkov:skip=CKV_AWS_309:It is var.api_authorization_type, AWS_IAM unless set to NONE; checkov cannot follow it through envs/shared (tests/integration/test_env_plans.py checks the planned value).
  count = var.create_http_api ? 1 : 0

  api_id             = aws_apigatewayv2_api.this[0].id
  route_key          = "POST /requests"
  target             = "integrations/${aws_apigatewayv2_integration.producer[0].id}"
  authorization_type = var.api_authorization_type
}

resource "aws_cloudwatch_log_group" "api_access" {
  count = var.create_http_api ? 1 : 0

  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  count = var.create_http_api ? 1 : 0

  api_id      = aws_apigatewayv2_api.this[0].id
  name        = "$default"
  auto_deploy = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access[0].arn
    format = jsonencode({
      requestId      = "$context.requestId"
      ip             = "$context.identity.sourceIp"
      requestTime    = "$context.requestTime"
      routeKey       = "$context.routeKey"
      status         = "$context.status"
      responseLength = "$context.responseLength"
      latency        = "$context.integrationLatency"
    })
  }

  tags = var.tags
}

resource "aws_lambda_permission" "api" {
  count = var.create_http_api ? 1 : 0

  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = module.producer.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this[0].execution_arn}/*/*/requests"
}
