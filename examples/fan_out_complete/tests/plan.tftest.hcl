# The example plans offline, against a mocked AWS provider, with the zips of `make package`.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

run "every_alarm_goes_to_the_one_shared_topic" {
  command = plan

  override_resource {
    target          = module.alerts.aws_sns_topic.this
    override_during = plan
    values          = { arn = "arn:aws:sns:eu-west-1:123456789012:fan-out-complete-alerts" }
  }

  assert {
    condition     = module.fan_out.alert_topic_arn == "arn:aws:sns:eu-west-1:123456789012:fan-out-complete-alerts"
    error_message = "fan_out must use the shared topic instead of creating its own."
  }
  assert {
    condition     = module.fan_out.worker_maximum_concurrency == 200
    error_message = "The workers' concurrency is the example's input."
  }
  assert {
    condition     = output.ventilator_function_name == "fan-out-complete-ventilator"
    error_message = "The example must expose the function that starts a job."
  }
  assert {
    condition     = module.dashboard.dashboard_name == "fan-out-complete-queues"
    error_message = "The dashboard draws the stack's queues."
  }
}
