output "topic_arn" {
  description = "ARN of the alert topic: the alarm and OK action of every alarm."
  value       = aws_sns_topic.this.arn
}

output "topic_name" {
  description = "Name of the alert topic."
  value       = aws_sns_topic.this.name
}

output "kms_key_arn" {
  description = "KMS key created for the topic, or null when kms_master_key_id was given."
  value       = local.create_key ? aws_kms_key.this[0].arn : null
}

output "email_subscription_arns" {
  description = "Subscription ARNs by email address (\"pending confirmation\" until confirmed)."
  value       = { for address, subscription in aws_sns_topic_subscription.email : address => subscription.arn }
}

output "https_subscription_arns" {
  description = "Subscription ARNs by HTTPS endpoint."
  value       = { for endpoint, subscription in aws_sns_topic_subscription.https : endpoint => subscription.arn }
}

output "chat_forwarder_function_name" {
  description = "Function posting alerts to the chat webhooks, or null without chat_webhook_urls."
  value       = local.create_chat_forwarder ? module.chat_forwarder[0].function_name : null
}

output "alarm_arns" {
  description = "The chat forwarder's Errors and Throttles alarms (empty without chat_webhook_urls)."
  value       = local.create_chat_forwarder ? module.chat_forwarder[0].alarm_arns : {}
}
