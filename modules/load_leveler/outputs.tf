output "api_endpoint" {
  description = "Base URL of the HTTP API; POST write requests to <api_endpoint>/requests. null when create_http_api is false."
  value       = var.create_http_api ? module.http_api[0].api_endpoint : null
}

output "api_route_arn" {
  description = "ARN to allow execute-api:Invoke on for callers of POST /requests (with AWS_IAM authorization), or null without an HTTP API."
  value       = var.create_http_api ? "${module.http_api[0].execution_arn}/*/POST/requests" : null
}

output "producer_function_name" {
  description = "Name of the producer function."
  value       = module.producer.function_name
}

output "producer_function_arn" {
  description = "ARN of the producer function (to invoke it from another entry point)."
  value       = module.producer.function_arn
}

output "producer_role_arn" {
  description = "Execution role of the producer."
  value       = module.producer.role_arn
}

output "consumer_function_name" {
  description = "Name of the consumer function."
  value       = module.consumer.function_name
}

output "consumer_function_arn" {
  description = "ARN of the consumer function."
  value       = module.consumer.function_arn
}

output "consumer_role_arn" {
  description = "Execution role of the consumer."
  value       = module.consumer.role_arn
}

output "event_source_mapping_uuid" {
  description = "UUID of the consumer's SQS event source mapping."
  value       = aws_lambda_event_source_mapping.consumer.uuid
}

output "maximum_concurrency" {
  description = "Consumer concurrency cap in force (given or derived from the downstream capacity)."
  value       = local.maximum_concurrency
}

output "writes_per_second_per_consumer" {
  description = "Write capacity units per second each consumer instance is paced to: the configured rate, or downstream_write_capacity_units / maximum_concurrency when that is lower."
  value       = local.paced_writes_per_second
}

output "idempotency_table_name" {
  description = "Name of the table in which the producer remembers request ids and their payload digests."
  value       = aws_dynamodb_table.request_ids.name
}

output "idempotency_table_arn" {
  description = "ARN of the producer's request-id table."
  value       = aws_dynamodb_table.request_ids.arn
}

output "queue_url" {
  description = "URL of the request queue."
  value       = module.queue.queue_url
}

output "queue_arn" {
  description = "ARN of the request queue."
  value       = module.queue.queue_arn
}

output "dlq_url" {
  description = "URL of the request queue's dead-letter queue."
  value       = module.queue.dlq_url
}

output "dlq_arn" {
  description = "ARN of the request queue's dead-letter queue."
  value       = module.queue.dlq_arn
}

output "visibility_timeout_seconds" {
  description = "Visibility timeout of the request queue."
  value       = module.queue.visibility_timeout_seconds
}

output "table_name" {
  description = "Name of the downstream table."
  value       = local.table_name
}

output "table_arn" {
  description = "ARN of the downstream table."
  value       = local.table_arn
}

output "alarm_arns" {
  description = "ARNs of the request queue's alarms."
  value       = module.queue.alarm_arns
}

output "alert_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = module.queue.alert_topic_arn
}

output "function_alarm_arns" {
  description = "ARNs of the functions' Errors and Throttles alarms, by function then kind."
  value       = { producer = module.producer.alarm_arns, consumer = module.consumer.alarm_arns }
}

output "queues" {
  description = "This module's entry in a stack's queue inventory (the dashboard submodule of dlq_monitoring takes it as is)."
  value = {
    load_leveler = {
      queue_name              = module.queue.queue_name
      queue_arn               = module.queue.queue_arn
      dlq_name                = module.queue.dlq_name
      dlq_arn                 = module.queue.dlq_arn
      consumer_function_names = [module.consumer.function_name]
      maximum_concurrency     = local.maximum_concurrency
      alarm_thresholds        = module.queue.alarm_thresholds
      alarm_arns              = module.queue.alarm_arns
    }
  }
}

output "function_names" {
  description = "Names of every function of the module."
  value       = [module.producer.function_name, module.consumer.function_name]
}

output "max_receive_count" {
  description = "Receives after which a message moves to the DLQ."
  value       = module.queue.max_receive_count
}

output "writes_throttled_alarm_arn" {
  description = "ARN of the alarm on downstream writes the table throttled."
  value       = aws_cloudwatch_metric_alarm.writes_throttled.arn
}
