output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN API Gateway uses to invoke the function."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Log group of the function."
  value       = aws_cloudwatch_log_group.this.name
}

output "environment_variables" {
  description = "Environment variables the function runs with."
  value       = aws_lambda_function.this.environment[0].variables
}

output "alarm_arns" {
  description = "ARNs of the function's alarms by kind (errors, throttles); empty without create_alarms."
  value       = { for kind, alarm in aws_cloudwatch_metric_alarm.this : kind => alarm.arn }
}

output "reserved_concurrent_executions" {
  description = "Concurrency reserved for the function (-1: unreserved)."
  value       = aws_lambda_function.this.reserved_concurrent_executions
}

output "async_invocation" {
  description = "How the function's asynchronous invocations are handled: maximum_retry_attempts and on_failure_destination (null: dropped after the retries)."
  value = {
    maximum_retry_attempts = var.async_maximum_retry_attempts
    on_failure_destination = var.keep_failed_async_invocations ? var.async_on_failure_destination_arn : null
  }
}
