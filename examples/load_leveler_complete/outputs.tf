output "api_endpoint" {
  description = "POST /requests here, SigV4-signed by a role in caller_role_names."
  value       = module.load_leveler.api_endpoint
}

output "send_requests_policy_arn" {
  description = "Attach it to any other principal that may send requests."
  value       = aws_iam_policy.send_requests.arn
}

output "maximum_concurrency" {
  description = "Consumers at once, derived from the table's write capacity."
  value       = module.load_leveler.maximum_concurrency
}

output "writes_per_second_per_consumer" {
  description = "The pace of each consumer."
  value       = module.load_leveler.writes_per_second_per_consumer
}

output "queue_url" {
  description = "The request queue."
  value       = module.load_leveler.queue_url
}

output "dlq_url" {
  description = "Requests that failed max_receive_count times (`make redrive` moves them back)."
  value       = module.load_leveler.dlq_url
}

output "alert_topic_arn" {
  description = "The topic every alarm notifies."
  value       = module.alerts.topic_arn
}
