output "bucket_name" {
  description = "Job bucket: upload a file under incoming/ to start a job; results land under results/<job>/."
  value       = module.fan_out.bucket_name
}

output "ventilator_function_name" {
  description = "Invoke it with a job spec to start a job."
  value       = module.fan_out.ventilator_function_name
}

output "tracker_table_name" {
  description = "The jobs' progress (the jobs CLI reads it)."
  value       = module.fan_in_tracker.table_name
}

output "job_events_topic_arn" {
  description = "Subscribe to it for one job-finished event per job."
  value       = module.fan_in_tracker.job_events_topic_arn
}

output "alert_topic_arn" {
  description = "The topic every alarm of the stack notifies."
  value       = module.alerts.topic_arn
}

output "dashboard_url" {
  description = "The queues, functions and alarms on one CloudWatch dashboard."
  value       = module.dashboard.dashboard_url
}

output "failed_invocations_queue_url" {
  description = "Failed async invocations, kept for `make job-redrive`."
  value       = module.fan_out.failed_invocations_queue_url
}
