# The example plans offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

run "each_queue_is_sized_for_its_consumer_and_shares_the_topic" {
  command = plan

  override_resource {
    target          = module.alerts.aws_sns_topic.this
    override_during = plan
    values          = { arn = "arn:aws:sns:eu-west-1:123456789012:billing-alerts" }
  }

  assert {
    condition     = module.queues["invoices"].visibility_timeout_seconds == 180 && module.queues["refunds"].visibility_timeout_seconds == 720
    error_message = "Visibility must be six times each consumer's timeout."
  }
  assert {
    condition     = module.queues["refunds"].dlq_name == "billing-refunds-dlq" && module.queues["refunds"].max_receive_count == 10
    error_message = "Each queue takes its own settings from var.queues."
  }
  assert {
    condition     = alltrue([for queue in values(module.queues) : queue.alert_topic_arn == "arn:aws:sns:eu-west-1:123456789012:billing-alerts"])
    error_message = "Every queue's alarms must notify the one shared topic."
  }
}

run "a_consumer_timeout_longer_than_lambdas_is_refused" {
  command = plan

  variables {
    queues = { slow = { consumer_timeout_seconds = 1800 } }
  }

  expect_failures = [var.queues]
}
