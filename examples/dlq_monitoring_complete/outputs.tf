output "queue_urls" {
  description = "Send messages here, by queue key."
  value       = { for key, queue in module.queues : key => queue.queue_url }
}

output "queue_arns" {
  description = "Point each consumer's event source mapping at its queue, by key."
  value       = { for key, queue in module.queues : key => queue.queue_arn }
}

output "dlq_urls" {
  description = "Each queue's DLQ (`make redrive QUEUE=...` moves its messages back), by key."
  value       = { for key, queue in module.queues : key => queue.dlq_url }
}

output "kms_key_arn" {
  description = "The queues' key: grant consumers kms:Decrypt and producers kms:GenerateDataKey on it."
  value       = aws_kms_key.queues.arn
}

output "alert_topic_arn" {
  description = "The topic every alarm notifies."
  value       = module.alerts.topic_arn
}

output "dashboard_url" {
  description = "Every queue, its DLQ and its alarms on one CloudWatch dashboard."
  value       = module.dashboard.dashboard_url
}
