output "load_leveler" {
  description = "Everything a client or test of the load leveler wires up."
  value = {
    api_endpoint                   = module.load_leveler.api_endpoint
    producer_function_name         = module.load_leveler.producer_function_name
    consumer_function_name         = module.load_leveler.consumer_function_name
    queue_url                      = module.load_leveler.queue_url
    dlq_url                        = module.load_leveler.dlq_url
    table_name                     = module.load_leveler.table_name
    maximum_concurrency            = module.load_leveler.maximum_concurrency
    writes_per_second_per_consumer = module.load_leveler.writes_per_second_per_consumer
    max_receive_count              = local.max_receive_count
    alarm_arns                     = module.load_leveler.alarm_arns
  }
}
