# The example plans offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

run "the_queue_gets_a_dlq_alarms_and_a_topic" {
  command = plan

  assert {
    condition     = module.queue.queue_name == "orders" && module.queue.dlq_name == "orders-dlq"
    error_message = "The queue is named var.name and its DLQ \"<name>-dlq\"."
  }
  assert {
    condition     = length(module.queue.alarm_arns) == 5
    error_message = "Depth, age, growth, DLQ messages and DLQ age: five alarms."
  }
  assert {
    condition     = module.queue.max_receive_count == 5
    error_message = "Inputs left out keep the module's defaults."
  }
}
