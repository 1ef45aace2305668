output "queue_url" {
  description = "Send messages here."
  value       = module.queue.queue_url
}

output "queue_arn" {
  description = "Point your consumer's event source mapping at it."
  value       = module.queue.queue_arn
}

output "dlq_url" {
  description = "Messages that failed max_receive_count times (`make redrive QUEUE=...` moves them back)."
  value       = module.queue.dlq_url
}

output "alert_topic_arn" {
  description = "Subscribe the on-call to it: every alarm and recovery is published here."
  value       = module.queue.alert_topic_arn
}
