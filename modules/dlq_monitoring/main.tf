data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  dlq_name = "${var.name}-dlq"
  # Built rather than referenced: the DLQ's redrive-allow policy names the
  # source queue, whose redrive policy names the DLQ.
  source_queue_arn = "arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.name}"

  age_alarm_threshold_seconds = coalesce(var.age_alarm_threshold_seconds, floor(var.message_retention_seconds * var.age_alarm_retention_fraction))
  alert_topic_arn             = var.create_alert_topic ? aws_sns_topic.alerts[0].arn : var.alert_topic_arn
  alarm_actions               = var.alarm_actions_enabled ? [local.alert_topic_arn] : []

  create_topic_key = var.create_alert_topic && var.alert_topic_kms_master_key_id == null
  runbook_suffix   = var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"
}

resource "aws_sqs_queue" "dlq" {
  name                              = local.dlq_name
  message_retention_seconds         = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled           = var.kms_master_key_id == null ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = var.kms_master_key_id == null ? null : var.kms_data_key_reuse_period_seconds

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

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}

################################################################################
# Alert topic
################################################################################

data "aws_iam_policy_document" "alert_topic_key" {
  count = local.create_topic_key ? 1 : 0

  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"] # In a key policy "*" means this key.
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishEncrypted"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # In a key policy "*" means this key.
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "alert_topic" {
  count = local.create_topic_key ? 1 : 0

  description             = "Encrypts the ${var.name} alert topic"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.alert_topic_key[0].json
  tags                    = var.tags
}

resource "aws_sns_topic" "alerts" {
  count = var.create_alert_topic ? 1 : 0

  name              = "${var.name}-alerts"
  kms_master_key_id = local.create_topic_key ? aws_kms_key.alert_topic[0].arn : var.alert_topic_kms_master_key_id
  tags              = var.tags
}

data "aws_iam_policy_document" "alert_topic" {
  count = var.create_alert_topic ? 1 : 0

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  count = var.create_alert_topic ? 1 : 0

  arn    = aws_sns_topic.alerts[0].arn
  policy = data.aws_iam_policy_document.alert_topic[0].json
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
