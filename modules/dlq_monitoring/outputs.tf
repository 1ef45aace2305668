output "queue_name" {
  description = "Name of the source queue."
  value       = aws_sqs_queue.this.name
}

output "queue_url" {
  description = "URL of the source queue."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the source queue (for event source mappings and IAM policies)."
  value       = aws_sqs_queue.this.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "visibility_timeout_seconds" {
  description = "Visibility timeout of the source queue."
  value       = aws_sqs_queue.this.visibility_timeout_seconds
}

output "dlq_visibility_timeout_seconds" {
  description = "Visibility timeout of the dead-letter queue."
  value       = aws_sqs_queue.dlq.visibility_timeout_seconds
}

output "age_alarm_threshold_seconds" {
  description = "Threshold of the oldest-message-age alarm, given or derived from the retention period."
  value       = local.age_alarm_threshold_seconds
}

output "alarm_arns" {
  description = "ARNs of the alarms, by kind: depth, oldest_message_age, growth, dlq_messages, dlq_oldest_message_age."
  value = {
    depth                  = aws_cloudwatch_metric_alarm.depth.arn
    oldest_message_age     = aws_cloudwatch_metric_alarm.oldest_message_age.arn
    growth                 = aws_cloudwatch_metric_alarm.growth.arn
    dlq_messages           = aws_cloudwatch_metric_alarm.dlq_messages.arn
    dlq_oldest_message_age = aws_cloudwatch_metric_alarm.dlq_oldest_message_age.arn
  }
}

output "alert_topic_arn" {
  description = "SNS topic the alarms notify (created or given)."
  value       = local.alert_topic_arn
}

output "alert_topic_kms_key_arn" {
  description = "KMS key created for the alert topic, or null."
  value       = var.create_alert_topic ? module.alert_topic[0].kms_key_arn : null
}

output "alarm_thresholds" {
  description = "Thresholds of the queue alarms, for dashboards: depth (messages), oldest_message_age (seconds), growth (messages per period), message_retention_seconds."
  value = {
    depth                     = var.depth_alarm_threshold
    oldest_message_age        = local.age_alarm_threshold_seconds
    growth                    = var.growth_alarm_threshold
    message_retention_seconds = var.message_retention_seconds
  }
}

output "max_receive_count" {
  description = "Receives after which a message moves to the DLQ."
  value       = var.max_receive_count
}
