output "load_leveler" {
  description = "Endpoints and names of the load leveler."
  value = {
    api_endpoint        = module.load_leveler.api_endpoint
    queue_url           = module.load_leveler.queue_url
    dlq_url             = module.load_leveler.dlq_url
    table_name          = module.load_leveler.table_name
    maximum_concurrency = module.load_leveler.maximum_concurrency
    alert_topic_arn     = module.load_leveler.alert_topic_arn
  }
}

output "fan_out" {
  description = "Where to submit jobs and find their results."
  value = {
    bucket_name              = module.fan_out.bucket_name
    incoming_prefix          = module.fan_out.incoming_prefix
    ventilator_function_name = module.fan_out.ventilator_function_name
    tracker_table_name       = module.fan_in_tracker.table_name
    job_events_topic_arn     = module.fan_in_tracker.job_events_topic_arn
  }
}
