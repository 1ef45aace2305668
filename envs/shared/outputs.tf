output "load_leveler" {
  description = "Everything a client or test of the load leveler wires up."
  value = {
    api_endpoint                   = module.load_leveler.api_endpoint
    api_route_arn                  = module.load_leveler.api_route_arn
    producer_function_name         = module.load_leveler.producer_function_name
    consumer_function_name         = module.load_leveler.consumer_function_name
    queue_url                      = module.load_leveler.queue_url
    dlq_url                        = module.load_leveler.dlq_url
    table_name                     = module.load_leveler.table_name
    maximum_concurrency            = module.load_leveler.maximum_concurrency
    writes_per_second_per_consumer = module.load_leveler.writes_per_second_per_consumer
    max_receive_count              = module.load_leveler.max_receive_count
    alarm_arns                     = module.load_leveler.alarm_arns
  }
}

output "fan_out" {
  description = "Everything a client or test of the fan-out/fan-in job wires up."
  value = {
    bucket_name                = module.fan_out.bucket_name
    incoming_prefix            = module.fan_out.incoming_prefix
    ventilator_function_name   = module.fan_out.ventilator_function_name
    worker_function_name       = module.fan_out.worker_function_name
    dlq_handler_function_name  = module.fan_out.dlq_handler_function_name
    queue_url                  = module.fan_out.queue_url
    dlq_url                    = module.fan_out.dlq_url
    worker_maximum_concurrency = module.fan_out.worker_maximum_concurrency
    tracker_table_name         = module.fan_in_tracker.table_name
    consolidator_function_name = module.fan_in_tracker.consolidator_function_name
    sweeper_function_name      = module.fan_in_tracker.sweeper_function_name
    job_events_topic_arn       = module.fan_in_tracker.job_events_topic_arn
    job_api_endpoint           = module.fan_out.job_api_endpoint
    job_api_function_name      = module.fan_out.job_api_function_name
  }
}

output "job_client_policy_json" {
  description = "Least-privilege IAM policy for the users of fan-out jobs: upload inputs, submit, follow and cancel jobs and read their results, through the job API and through the CLI without --api (modules/fan_out README, \"Job API\"). Attach it to a group or role with aws_iam_policy; `terraform output -raw job_client_policy_json` prints it."
  value       = module.fan_out.job_client_policy_json
}

output "monitoring" {
  description = "The queue inventory, the dashboard and the alert topic of the stack."
  value = {
    queues = local.queue_inventory
    # Queues no function consumes: they keep what failed (alarmed, never drained on their own).
    holding_queue_names          = [module.fan_out.failed_invocations_queue_name]
    function_names               = local.function_names
    alarm_arns                   = local.alarm_arns
    alert_topic_arn              = module.alerts.topic_arn
    chat_forwarder_function_name = module.alerts.chat_forwarder_function_name
    dashboard_name               = module.dashboard.dashboard_name
    dashboard_url                = module.dashboard.dashboard_url
  }
}

output "dashboard_body" {
  description = "The dashboard's JSON body (`terraform output -raw dashboard_body`). Sensitive only so that apply does not print its kilobytes; it holds no secret."
  value       = module.dashboard.dashboard_body
  sensitive   = true
}
