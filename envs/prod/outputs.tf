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
