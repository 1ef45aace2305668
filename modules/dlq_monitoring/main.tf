data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  dlq_name = "${var.name}-dlq"
  # Built rather than referenced: the DLQ's redrive-allow policy names the
  # source queue, whose redrive policy names the DLQ.
  queue_arn_prefix = "arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  source_queue_arn = "${local.queue_arn_prefix}:${var.name}"
  dlq_arn          = "${local.queue_arn_prefix}:${local.dlq_name}"

  age_alarm_threshold_seconds = coalesce(var.age_alarm_threshold_seconds, floor(var.message_retention_seconds * var.age_alarm_retention_fraction))
  # A DLQ expires a message by its first enqueue time, but its age metric counts
  # from the move. A message may have spent message_retention_seconds in the
  # source first, so it is sure to live dlq - source retention in the DLQ.
  dlq_age_alarm_threshold_seconds = floor((var.dlq_message_retention_seconds - var.message_retention_seconds) * var.age_alarm_retention_fraction)
  alert_topic_arn                 = var.create_alert_topic ? module.alert_topic[0].topic_arn : var.alert_topic_arn
  alarm_actions                   = var.alarm_actions_enabled ? [local.alert_topic_arn] : []

  runbook_suffix = var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"
}

# Set inline rather than through aws_sqs_queue_policy, which would add the
# provider's SQS settle wait once more per queue. Access itself is granted by
# the consumers' and producers' own IAM policies.
module "queue_policy" {
  source   = "../deny_insecure_transport"
  for_each = { source = local.source_queue_arn, dlq = local.dlq_arn }

  actions   = ["sqs:*"]
  resources = [each.value]
}

# SNS subscriptions whose redrive policy names this DLQ move undeliverable messages into it.
data "aws_iam_policy_document" "dlq" {
  source_policy_documents = [module.queue_policy["dlq"].json]

  dynamic "statement" {
    for_each = length(var.dlq_source_topic_arns) > 0 ? [var.dlq_source_topic_arns] : []
    content {
      sid       = "AcceptUndeliverableNotifications"
      actions   = ["sqs:SendMessage"]
      resources = [local.dlq_arn]
      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = statement.value
      }
    }
  }
}

resource "aws_sqs_queue" "dlq" {
  name                              = local.dlq_name
  visibility_timeout_seconds        = var.dlq_visibility_timeout_seconds
  message_retention_seconds         = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled           = var.kms_master_key_id == null ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = var.kms_master_key_id == null ? null : var.kms_data_key_reuse_period_seconds

  policy = data.aws_iam_policy_document.dlq.json

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.source_queue_arn]
  })

  tags = var.tags
}

resource "aws_sqs_queue" "this" {
  name                              = var.name
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  receive_wait_time_seconds         = var.receive_wait_time_seconds
  sqs_managed_sse_enabled           = var.kms_master_key_id == null ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = var.kms_master_key_id == null ? null : var.kms_data_key_reuse_period_seconds

  policy = module.queue_policy["source"].json

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}

module "alert_topic" {
  source = "./modules/alert_topic"
  count  = var.create_alert_topic ? 1 : 0

  name              = "${var.name}-alerts"
  kms_master_key_id = var.alert_topic_kms_master_key_id
  tags              = var.tags
}

################################################################################
# Alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "depth" {
  alarm_name          = "${var.name}-depth"
  alarm_description   = "More than ${var.depth_alarm_threshold} messages have waited in ${var.name} for ${var.depth_alarm_evaluation_periods} periods: consumers are not keeping up.${local.runbook_suffix}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.this.name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.depth_alarm_evaluation_periods
  threshold           = var.depth_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  alarm_name          = "${var.name}-oldest-message-age"
  alarm_description   = "The oldest message in ${var.name} is older than ${local.age_alarm_threshold_seconds}s; messages expire after ${var.message_retention_seconds}s.${local.runbook_suffix}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.this.name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = local.age_alarm_threshold_seconds
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Sent minus deleted is how much the backlog grew in a period. Unlike depth,
# it fires early in a long spike, while the queue is still far from its
# depth threshold and nothing has aged yet.
resource "aws_cloudwatch_metric_alarm" "growth" {
  alarm_name          = "${var.name}-growth"
  alarm_description   = "${var.name} grew by more than ${var.growth_alarm_threshold} messages per ${var.alarm_period_seconds}s (sent minus deleted) for ${var.growth_alarm_evaluation_periods} periods: producers outpace consumers.${local.runbook_suffix}"
  evaluation_periods  = var.growth_alarm_evaluation_periods
  threshold           = var.growth_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags

  metric_query {
    id          = "growth"
    expression  = "sent - deleted"
    label       = "Messages added to the backlog"
    return_data = true
  }

  metric_query {
    id = "sent"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "NumberOfMessagesSent"
      dimensions  = { QueueName = aws_sqs_queue.this.name }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }

  metric_query {
    id = "deleted"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "NumberOfMessagesDeleted"
      dimensions  = { QueueName = aws_sqs_queue.this.name }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "dlq_messages" {
  alarm_name          = "${var.name}-dlq-messages"
  alarm_description   = "Messages are waiting in ${local.dlq_name}: they failed ${var.max_receive_count} times. Inspect them, fix the cause, then redrive.${local.runbook_suffix}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_oldest_message_age" {
  alarm_name          = "${var.name}-dlq-oldest-message-age"
  alarm_description   = "A message has been in ${local.dlq_name} for more than ${local.dlq_age_alarm_threshold_seconds}s; it expires ${var.dlq_message_retention_seconds}s after it was first sent to ${var.name}, possibly ${var.dlq_message_retention_seconds - var.message_retention_seconds}s after it arrived here. Export it (make dlq-export) or redrive it before then.${local.runbook_suffix}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = local.dlq_age_alarm_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
