output "table_name" {
  description = "Name of the tracker table (TRACKER_TABLE of the fan-out functions)."
  value       = aws_dynamodb_table.tracker.name
}

output "table_arn" {
  description = "ARN of the tracker table."
  value       = aws_dynamodb_table.tracker.arn
}

output "status_index_name" {
  description = "The sparse index of jobs by status and deadline."
  value       = local.status_index
}

output "consolidator_function_name" {
  description = "Name of the consolidator (CONSOLIDATOR_FUNCTION of workers and DLQ handler)."
  value       = module.consolidator.function_name
}

output "consolidator_function_arn" {
  description = "ARN of the consolidator, for lambda:InvokeFunction grants."
  value       = module.consolidator.function_arn
}

output "sweeper_function_name" {
  description = "Name of the sweeper."
  value       = module.sweeper.function_name
}

output "job_events_topic_arn" {
  description = "SNS topic announcing every finished job (subscribe here)."
  value       = aws_sns_topic.job_events.arn
}

output "consolidations_abandoned_alarm_arn" {
  description = "ARN of the alarm on jobs ended FAILED because their consolidation kept failing (null without create_function_alarms)."
  value       = one(aws_cloudwatch_metric_alarm.consolidations_abandoned[*].arn)
}

output "function_alarm_arns" {
  description = "ARNs of the consolidator's and sweeper's Errors and Throttles alarms (empty without create_function_alarms)."
  value       = { consolidator = module.consolidator.alarm_arns, sweeper = module.sweeper.alarm_arns }
}

output "function_names" {
  description = "Names of every function of the module."
  value       = [module.consolidator.function_name, module.sweeper.function_name]
}
