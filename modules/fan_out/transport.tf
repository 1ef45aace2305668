################################################################################
# transport = "sns": a topic pushes each subtask to a worker
################################################################################

locals {
  subtask_topic_name = "${var.name}-subtasks"
  # Built from the name: the ventilator's policy and the DLQ's need it before the topic exists.
  subtask_topic_arn = "arn:${data.aws_partition.current.partition}:sns:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${local.subtask_topic_name}"
}

resource "aws_sns_topic" "subtasks" {
  count = local.push ? 1 : 0

  name = local.subtask_topic_name
  # The queue's key when it has one, so one key policy governs the subtasks; else SNS's AWS managed key.
  kms_master_key_id = coalesce(local.queue.kms_master_key_id, "alias/aws/sns")
  tags              = var.tags
}

resource "aws_lambda_permission" "subtask_topic" {
  count = local.push ? 1 : 0

  statement_id  = "AllowSubtaskTopic"
  action        = "lambda:InvokeFunction"
  function_name = module.worker.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.subtasks[0].arn
}

# A delivery SNS gives up on (the worker could not be invoked at all) is moved
# to the subtask DLQ by the subscription's redrive policy; an invocation that
# failed its retries gets there through the worker's on-failure destination.
# The DLQ handler records both as failed subtasks, as it does with sqs.
resource "aws_sns_topic_subscription" "worker" {
  count = local.push ? 1 : 0

  topic_arn      = aws_sns_topic.subtasks[0].arn
  protocol       = "lambda"
  endpoint       = module.worker.function_arn
  redrive_policy = jsonencode({ deadLetterTargetArn = module.queue.dlq_arn })

  depends_on = [aws_lambda_permission.subtask_topic]
}

locals {
  # The paths where a pushed subtask could be lost rather than recorded as failed.
  push_alarms = !local.push ? {} : {
    subtask-deliveries-failed = {
      description = "SNS could not deliver subtasks of ${local.subtask_topic_name} to the worker (throttled past its retries, or denied): they are in ${var.name}-subtasks-dlq, and their jobs record them as failed."
      namespace   = "AWS/SNS"
      metric      = "NumberOfNotificationsFailed"
      dimensions  = { TopicName = local.subtask_topic_name }
    }
    subtask-dead-letters-lost = {
      description = "SNS could not move undeliverable subtasks of ${local.subtask_topic_name} to ${var.name}-subtasks-dlq (its policy or key refused SNS): they are lost, and their jobs will time out."
      namespace   = "AWS/SNS"
      metric      = "NumberOfNotificationsFailedToRedriveToDlq"
      dimensions  = { TopicName = local.subtask_topic_name }
    }
    failed-subtasks-lost = {
      description = "Lambda could not send failed invocations of ${var.name}-worker to ${var.name}-subtasks-dlq, its on-failure destination: those subtasks are lost, and their jobs will time out."
      namespace   = "AWS/Lambda"
      metric      = "DestinationDeliveryFailures"
      dimensions  = { FunctionName = module.worker.function_name }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "push" {
  for_each = local.push_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "${each.value.description}${var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"}"
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.queue.alert_topic_arn]
  ok_actions          = [module.queue.alert_topic_arn]
  tags                = var.tags

  depends_on = [aws_sns_topic.subtasks]
}

moved {
  from = aws_lambda_event_source_mapping.worker
  to   = aws_lambda_event_source_mapping.worker[0]
}
