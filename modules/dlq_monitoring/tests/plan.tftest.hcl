# Plan-level tests: offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name = "orders"
}

run "defaults_give_an_encrypted_queue_and_dlq_with_every_alarm" {
  command = plan

  override_resource {
    target          = aws_sqs_queue.dlq
    values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:orders-dlq" }
    override_during = plan
  }
  override_resource {
    target          = module.alert_topic[0].aws_sns_topic.this
    values          = { arn = "arn:aws:sns:eu-west-1:123456789012:orders-alerts" }
    override_during = plan
  }

  assert {
    condition     = aws_sqs_queue.this.sqs_managed_sse_enabled && aws_sqs_queue.dlq.sqs_managed_sse_enabled
    error_message = "Both queues must be encrypted (SSE-SQS) by default."
  }
  assert {
    condition     = aws_sqs_queue.dlq.message_retention_seconds > aws_sqs_queue.this.message_retention_seconds
    error_message = "The DLQ must keep messages longer than the source queue."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 5
    error_message = "The source queue must redrive to the DLQ after max_receive_count receives."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.dlq.redrive_allow_policy).sourceQueueArns == ["arn:aws:sqs:eu-west-1:123456789012:orders"]
    error_message = "Only the source queue may use the DLQ."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.depth.metric_name == "ApproximateNumberOfMessagesVisible" && aws_cloudwatch_metric_alarm.depth.dimensions.QueueName == "orders"
    error_message = "The depth alarm must watch the source queue's visible messages."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.oldest_message_age.threshold == 345600 / 2
    error_message = "The age alarm must default to half the retention period."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.dlq_messages.dimensions.QueueName == "orders-dlq" && aws_cloudwatch_metric_alarm.dlq_messages.threshold == 0
    error_message = "Any message in the DLQ must raise the DLQ alarm."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.dlq_oldest_message_age.dimensions.QueueName == "orders-dlq" &&
      aws_cloudwatch_metric_alarm.dlq_oldest_message_age.metric_name == "ApproximateAgeOfOldestMessage" &&
      aws_cloudwatch_metric_alarm.dlq_oldest_message_age.threshold == (1209600 - 345600) / 2
    )
    error_message = "The DLQ must alarm when a message has been in it for half the time it is sure to stay (DLQ retention - source retention)."
  }
  assert {
    condition = alltrue([
      for alarm in [aws_cloudwatch_metric_alarm.depth, aws_cloudwatch_metric_alarm.oldest_message_age, aws_cloudwatch_metric_alarm.growth, aws_cloudwatch_metric_alarm.dlq_messages, aws_cloudwatch_metric_alarm.dlq_oldest_message_age] :
      alarm.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:orders-alerts"]) && alarm.ok_actions == alarm.alarm_actions
    ])
    error_message = "Every alarm must notify the alert topic on ALARM and on OK."
  }
  assert {
    condition     = length(module.alert_topic) == 1
    error_message = "An alert topic must be created when none is given (its encryption is tested in modules/alert_topic)."
  }
  assert {
    condition = (
      [for query in aws_cloudwatch_metric_alarm.growth.metric_query : query.expression if query.return_data == true] == ["sent - deleted"] &&
      toset([for query in aws_cloudwatch_metric_alarm.growth.metric_query : one(query.metric[*].metric_name) if query.return_data != true]) == toset(["NumberOfMessagesSent", "NumberOfMessagesDeleted"]) &&
      alltrue([for query in aws_cloudwatch_metric_alarm.growth.metric_query : one(query.metric[*].dimensions.QueueName) == "orders" if query.return_data != true])
    )
    error_message = "The growth alarm must watch sent minus deleted messages of the source queue."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.growth.threshold == 500 && aws_cloudwatch_metric_alarm.growth.evaluation_periods == 5
    error_message = "The growth alarm must default to 500 messages per period for 5 periods."
  }
}

run "alarm_descriptions_link_the_runbook" {
  command = plan

  variables {
    runbook_url = "https://example.com/runbook.md"
  }

  assert {
    condition = alltrue([
      for alarm in [aws_cloudwatch_metric_alarm.depth, aws_cloudwatch_metric_alarm.oldest_message_age, aws_cloudwatch_metric_alarm.growth, aws_cloudwatch_metric_alarm.dlq_messages, aws_cloudwatch_metric_alarm.dlq_oldest_message_age] :
      endswith(alarm.alarm_description, "Runbook: https://example.com/runbook.md")
    ])
    error_message = "Every alarm description must end with the runbook link."
  }
}

run "age_threshold_follows_the_retention_fraction" {
  command = plan

  variables {
    message_retention_seconds    = 3600
    age_alarm_retention_fraction = 0.25
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.oldest_message_age.threshold == 900
    error_message = "The age alarm threshold must be fraction x retention."
  }
}

run "an_existing_alert_topic_is_used_and_none_created" {
  command = plan

  variables {
    create_alert_topic = false
    alert_topic_arn    = "arn:aws:sns:eu-west-1:123456789012:team-alerts"
  }

  assert {
    condition     = length(module.alert_topic) == 0 && output.alert_topic_kms_key_arn == null
    error_message = "No topic or key may be created when one is given."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.depth.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:team-alerts"])
    error_message = "Alarms must notify the given topic."
  }
}

run "a_customer_kms_key_replaces_sse_sqs" {
  command = plan

  variables {
    kms_master_key_id = "alias/orders"
  }

  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == "alias/orders" && aws_sqs_queue.dlq.kms_master_key_id == "alias/orders"
    error_message = "Both queues must use the given KMS key."
  }
}

run "rejects_a_dlq_retention_not_longer_than_the_source" {
  command = plan

  variables {
    message_retention_seconds     = 1209600
    dlq_message_retention_seconds = 1209600
  }

  expect_failures = [var.dlq_message_retention_seconds]
}

run "rejects_an_age_threshold_at_or_after_expiry" {
  command = plan

  variables {
    message_retention_seconds   = 3600
    age_alarm_threshold_seconds = 3600
  }

  expect_failures = [var.age_alarm_threshold_seconds]
}

run "rejects_no_topic_at_all" {
  command = plan

  variables {
    create_alert_topic = false
  }

  expect_failures = [var.alert_topic_arn]
}

run "rejects_a_name_too_long_for_the_dlq_suffix" {
  command = plan

  variables {
    name = "a-queue-name-that-is-far-too-long-to-leave-room-for-the-dlq-suffix-at-the-end"
  }

  expect_failures = [var.name]
}

run "rejects_bad_thresholds" {
  command = plan

  variables {
    depth_alarm_threshold        = 0
    age_alarm_retention_fraction = 1.5
    max_receive_count            = 0
    alarm_period_seconds         = 90
    growth_alarm_threshold       = 0
  }

  expect_failures = [
    var.depth_alarm_threshold,
    var.age_alarm_retention_fraction,
    var.max_receive_count,
    var.alarm_period_seconds,
    var.growth_alarm_threshold,
  ]
}

run "rejects_evaluation_windows_longer_than_a_day" {
  command = plan

  variables {
    alarm_period_seconds            = 3600
    depth_alarm_evaluation_periods  = 25
    growth_alarm_evaluation_periods = 48
  }

  expect_failures = [
    var.depth_alarm_evaluation_periods,
    var.growth_alarm_evaluation_periods,
  ]
}

run "the_dlq_accepts_undeliverable_notifications_of_the_named_topics_only" {
  command = plan

  variables {
    dlq_source_topic_arns = ["arn:aws:sns:eu-west-1:123456789012:orders-subtasks"]
  }

  assert {
    condition = alltrue([
      for condition in one([for s in data.aws_iam_policy_document.dlq.statement : s if s.sid == "AcceptUndeliverableNotifications"]).condition :
      condition.test == "ArnEquals" && condition.variable == "aws:SourceArn" && toset(condition.values) == toset(["arn:aws:sns:eu-west-1:123456789012:orders-subtasks"])
    ])
    error_message = "SNS may send to the DLQ only for the topics named."
  }
}

run "rejects_a_topic_that_is_not_an_arn" {
  command = plan

  variables {
    dlq_source_topic_arns = ["orders-subtasks"]
  }

  expect_failures = [var.dlq_source_topic_arns]
}
