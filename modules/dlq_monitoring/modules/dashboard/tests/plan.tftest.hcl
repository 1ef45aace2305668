# Plan-level tests: offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../../../tests/terraform/mocks"
}

variables {
  name = "shop-queues"
  queues = {
    orders = {
      queue_name              = "shop-orders"
      dlq_name                = "shop-orders-dlq"
      consumer_function_names = ["shop-orders-consumer"]
      maximum_concurrency     = 4
      alarm_thresholds        = { depth = 1000, oldest_message_age = 1800, growth = 500, message_retention_seconds = 3600 }
    }
    audit = {
      queue_name = "shop-audit"
      dlq_name   = "shop-audit-dlq"
    }
  }
  function_names = ["shop-orders-producer", "shop-orders-consumer"]
  alarm_arns     = ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:shop-orders-depth"]
  runbook_url    = "https://example.com/runbook.md"
}

run "every_queue_gets_its_graphs" {
  command = plan

  assert {
    condition = alltrue([
      for queue in ["shop-orders", "shop-audit"] : length([
        for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : widget
        if strcontains(jsonencode(try(widget.properties.metrics, [])), "\"${queue}\"")
      ]) >= 3
    ])
    error_message = "Every queue must have its depth, age and throughput graphs."
  }
  assert {
    condition = toset(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for metric in try(widget.properties.metrics, []) : try(metric[1], "") if try(metric[1], "") != ""
      ]
    ])) == toset(["ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted", "Errors", "Throttles", "ConcurrentExecutions"])
    error_message = "The dashboard must show depth, age, sent/received/deleted, errors, throttles and concurrency."
  }
  assert {
    condition = length([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : widget
      if strcontains(jsonencode(try(widget.properties.metrics, [])), "DIFF(dlq)")
    ]) == 2
    error_message = "Every queue must have a DLQ arrivals graph."
  }
  assert {
    condition = length([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : widget
      if try(strcontains(widget.properties.title, "audit: consumer"), false)
    ]) == 0
    error_message = "A queue without consumers must have no consumer graphs."
  }
  assert {
    condition = [
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : widget.properties.alarms if widget.type == "alarm"
    ] == [["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:shop-orders-depth"]]
    error_message = "The alarm status widget must list the given alarms."
  }
  assert {
    condition = alltrue([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : widget.x + widget.width <= 24
    ])
    error_message = "No widget may overflow the 24-column grid."
  }
}

run "rejects_an_empty_inventory_and_too_many_alarms" {
  command = plan

  variables {
    queues     = {}
    alarm_arns = [for index in range(101) : "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a${index}"]
  }

  expect_failures = [var.queues, var.alarm_arns]
}
