output "bucket_name" {
  description = "The job bucket: put inputs under inputs/ (an upload there starts nothing) and name them in a job spec; an upload to incoming/ starts a lines job with default_workload. A job's results land under results/<job_id>/: manifest.json, succeeded/*.jsonl, failed/*.jsonl and, when the workload has a merge, result.json."
  value       = aws_s3_bucket.jobs.bucket
}

output "bucket_arn" {
  description = "ARN of the job bucket (job_bucket_arn of fan_in_tracker)."
  value       = aws_s3_bucket.jobs.arn
}

output "incoming_prefix" {
  description = "Key prefix whose uploads start a job (a lines source with default_workload); inputs you name in a spec go under inputs/, which starts nothing."
  value       = local.incoming_prefix
}

output "ventilator_function_name" {
  description = "Invoke it with a job spec to submit a job."
  value       = module.ventilator.function_name
}

output "ventilator_function_arn" {
  description = "ARN of the ventilator."
  value       = module.ventilator.function_arn
}

output "worker_function_name" {
  description = "Name of the worker function."
  value       = module.worker.function_name
}

output "dlq_handler_function_name" {
  description = "Name of the DLQ handler."
  value       = module.dlq_handler.function_name
}

output "worker_maximum_concurrency" {
  description = "Most workers running at once."
  value       = var.worker_maximum_concurrency
}

output "queue_url" {
  description = "URL of the subtask queue."
  value       = module.queue.queue_url
}

output "queue_arn" {
  description = "ARN of the subtask queue."
  value       = module.queue.queue_arn
}

output "dlq_url" {
  description = "URL of the subtask DLQ."
  value       = module.queue.dlq_url
}

output "dlq_arn" {
  description = "ARN of the subtask DLQ."
  value       = module.queue.dlq_arn
}

output "kms_key_arn" {
  description = "The customer managed KMS key of the subtask queue, its DLQ and (transport = \"sns\") the subtask topic, which the module's roles are granted; null: SSE-SQS and SNS's AWS managed key. Its key policy must delegate to IAM (the account root principal) and, with sns, let sns.amazonaws.com use it (its README, \"Transport\")."
  value       = local.queue.kms_master_key_id
}

output "alarm_arns" {
  description = "ARNs of the subtask queue's alarms."
  value       = module.queue.alarm_arns
}

output "messages_quarantined_alarm_arn" {
  description = "ARN of the alarm on DLQ messages the DLQ handler could not record and quarantined."
  value       = aws_cloudwatch_metric_alarm.messages_quarantined.arn
}

output "quarantine_prefix" {
  description = "Prefix of the job bucket under which the DLQ handler keeps messages it could not record."
  value       = local.quarantine_prefix
}

output "alert_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = module.queue.alert_topic_arn
}

output "function_alarm_arns" {
  description = "ARNs of the functions' Errors and Throttles alarms, by function then kind."
  value = merge(
    { ventilator = module.ventilator.alarm_arns, worker = module.worker.alarm_arns, dlq_handler = module.dlq_handler.alarm_arns },
    var.create_job_api ? { job_api = module.job_api[0].alarm_arns } : {},
  )
}

output "queues" {
  description = "This module's entry in a stack's queue inventory (the dashboard submodule of dlq_monitoring takes it as is). The DLQ handler consumes the DLQ."
  value = {
    fan_out = {
      queue_name              = module.queue.queue_name
      queue_arn               = module.queue.queue_arn
      dlq_name                = module.queue.dlq_name
      dlq_arn                 = module.queue.dlq_arn
      consumer_function_names = [module.worker.function_name, module.dlq_handler.function_name]
      maximum_concurrency     = var.worker_maximum_concurrency
      alarm_thresholds        = module.queue.alarm_thresholds
      alarm_arns              = module.queue.alarm_arns
    }
  }
}

output "function_names" {
  description = "Names of every function of the module."
  value       = concat([module.ventilator.function_name, module.worker.function_name, module.dlq_handler.function_name], module.job_api[*].function_name)
}

output "max_receive_count" {
  description = "Receives after which a message moves to the DLQ."
  value       = module.queue.max_receive_count
}

output "failed_invocations_queue_arn" {
  description = "ARN of the queue that keeps asynchronous invocations which failed every attempt (pass it to fan_in_tracker's async_failure_destination_arn)."
  value       = aws_sqs_queue.failed_invocations.arn
}

output "failed_invocations_queue_name" {
  description = "Name of the queue of failed asynchronous invocations."
  value       = aws_sqs_queue.failed_invocations.name
}

output "failed_invocations_queue_url" {
  description = "URL of the queue of failed asynchronous invocations."
  value       = aws_sqs_queue.failed_invocations.url
}

output "failed_invocations_alarm_arn" {
  description = "ARN of the alarm on failed asynchronous invocations."
  value       = aws_cloudwatch_metric_alarm.failed_invocations.arn
}

output "subtasks_failed_alarm_arn" {
  description = "ARN of the alarm on subtasks that failed for good."
  value       = aws_cloudwatch_metric_alarm.subtasks_failed.arn
}

output "job_api_endpoint" {
  description = "Base URL of the job API (POST <endpoint>/jobs), or null without create_job_api."
  value       = var.create_job_api ? module.job_http_api[0].api_endpoint : null
}

output "job_api_route_arns" {
  description = "With AWS_IAM authorization: allow execute-api:Invoke on these to the callers, by what they may do (submit, status, cancel); {} without create_job_api."
  value       = local.job_api_route_arns
}

output "job_client_policy_json" {
  description = "Least-privilege IAM policy for the users of jobs: upload inputs (s3:PutObject on inputs/), read results (s3:GetObject on results/), submit, follow and cancel jobs through the job API (execute-api:Invoke on each route, with AWS_IAM authorization; lambda:InvokeFunction on its function, for JobsClient.invoking) and through the CLI without --api (invoke the ventilator; read the tracker table; UpdateItem on it to cancel). One statement per need (README, \"Job API\"); attach it with aws_iam_policy."
  value       = data.aws_iam_policy_document.job_client.json
}

output "job_api_function_name" {
  description = "The job API's function, or null without create_job_api."
  value       = var.create_job_api ? module.job_api[0].function_name : null
}

output "transport" {
  description = "How subtasks reach the workers: sqs or sns."
  value       = var.transport
}

output "subtask_topic_arn" {
  description = "ARN of the topic that pushes subtasks to the workers (transport = \"sns\"), else null."
  value       = one(aws_sns_topic.subtasks[*].arn)
}

output "push_alarm_arns" {
  description = "ARNs of the sns transport's alarms, by name: subtask-deliveries-failed, subtask-dead-letters-lost, failed-subtasks-lost (empty with sqs)."
  value       = { for name, alarm in aws_cloudwatch_metric_alarm.push : name => alarm.arn }
}
