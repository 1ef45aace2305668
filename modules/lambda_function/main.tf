# One Lambda function with its own role, log group and least-privilege policy:
# the building block the pattern modules create their functions with.

data "aws_region" "current" {}

locals {
  # Role names are global to the account: the region keeps two deployments of one stack apart.
  region    = data.aws_region.current.name
  role_name = "${trimsuffix(substr(var.name, 0, 63 - length(local.region)), "-")}-${local.region}"

  # SNS when the ARN says so, else SQS: a queue ARN unknown until apply still gets the SQS grant.
  async_destination_service = var.keep_failed_async_invocations ? (strcontains(coalesce(var.async_on_failure_destination_arn, "-"), ":sns:") ? "sns" : "sqs") : null
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "runtime" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions for these actions.
  }

  dynamic "statement" {
    for_each = local.async_destination_service == null ? [] : [local.async_destination_service]
    content {
      sid       = "KeepFailedAsyncInvocations"
      actions   = [statement.value == "sqs" ? "sqs:SendMessage" : "sns:Publish"]
      resources = [var.async_on_failure_destination_arn]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = local.role_name
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "runtime" {
  name   = "runtime"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.runtime.json
}

resource "aws_iam_role_policy" "access" {
  count = var.attach_policy_json ? 1 : 0

  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  function_name    = var.name
  description      = var.description
  role             = aws_iam_role.this.arn
  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)
  handler          = var.handler
  runtime          = var.runtime
  architectures    = [var.architecture]
  timeout          = var.timeout_seconds
  memory_size      = var.memory_size

  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    variables = merge(var.environment_variables, { POWERTOOLS_SERVICE_NAME = var.name })
  }

  tracing_config {
    mode = var.tracing_mode
  }

  tags = var.tags

  # The log group exists first, so Lambda never creates one without retention.
  depends_on = [aws_iam_role_policy.runtime, aws_iam_role_policy.access, aws_cloudwatch_log_group.this]
}

resource "aws_lambda_function_event_invoke_config" "this" {
  count = var.keep_failed_async_invocations || var.async_maximum_retry_attempts != 2 ? 1 : 0

  function_name          = aws_lambda_function.this.function_name
  maximum_retry_attempts = var.async_maximum_retry_attempts

  dynamic "destination_config" {
    for_each = var.keep_failed_async_invocations ? [var.async_on_failure_destination_arn] : []
    content {
      on_failure {
        destination = destination_config.value
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.create_alarms ? merge(
    {
      errors = "Invocations of ${var.name} failed (errors, timeouts or out-of-memory): check its log group ${aws_cloudwatch_log_group.this.name}."
    },
    !var.alarm_on_throttles ? {} : {
      throttles = "Invocations of ${var.name} were throttled: raise its concurrency or lower the load sent to it."
    },
    !var.keep_failed_async_invocations ? {} : {
      # DestinationDeliveryFailures, not AsyncEventsDropped: the latter also counts the events the
      # destination kept, so it would only repeat the destination's own alarm.
      destination_delivery_failures = "Failed asynchronous invocations of ${var.name} could not be sent to its on-failure destination (it refused them: its policy or key): the work they asked for is lost."
    },
  ) : {}

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = "${each.value}${var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"}"
  namespace           = "AWS/Lambda"
  metric_name         = replace(title(replace(each.key, "_", " ")), " ", "")
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}
