# transport = "sqs" | "sns": plan-level, offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name                       = "reports"
  ventilator_package_path    = "tests/fixture.zip"
  worker_package_path        = "tests/fixture.zip"
  dlq_handler_package_path   = "tests/fixture.zip"
  tracker_table_name         = "reports-jobs"
  tracker_table_arn          = "arn:aws:dynamodb:eu-west-1:123456789012:table/reports-jobs"
  consolidator_function_name = "reports-consolidator"
  consolidator_function_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:reports-consolidator"
}

run "sqs_by_default_drained_by_an_event_source_mapping" {
  command = plan

  assert {
    condition     = output.transport == "sqs" && length(aws_lambda_event_source_mapping.worker) == 1 && length(aws_sns_topic.subtasks) == 0 && output.subtask_topic_arn == null
    error_message = "By default the subtask queue is drained by an event source mapping, and there is no topic."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.push) == 0 && output.push_alarm_arns == {} && contains(keys(module.worker.alarm_arns), "throttles")
    error_message = "With sqs there are no push alarms, and the worker's throttles alarm stays."
  }
  assert {
    condition     = !contains(keys(module.ventilator.environment_variables), "SUBTASK_TOPIC_ARN") && module.worker.reserved_concurrent_executions == -1
    error_message = "With sqs the ventilator sends to the queue, and the mapping caps the workers."
  }
}

run "sns_pushes_each_subtask_and_fails_into_the_same_dlq" {
  command = plan

  variables {
    transport                  = "sns"
    worker_maximum_concurrency = 400
  }

  override_resource {
    target          = aws_sns_topic.subtasks
    values          = { arn = "arn:aws:sns:eu-west-1:123456789012:reports-subtasks" }
    override_during = plan
  }
  override_resource {
    target          = module.queue.aws_sqs_queue.dlq
    values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:reports-subtasks-dlq" }
    override_during = plan
  }
  override_resource {
    target          = module.worker.aws_lambda_function.this
    values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:reports-worker" }
    override_during = plan
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.worker) == 0 && module.ventilator.environment_variables.SUBTASK_TOPIC_ARN == "arn:aws:sns:eu-west-1:123456789012:reports-subtasks"
    error_message = "With sns the ventilator publishes to the topic, and no mapping drains the queue."
  }
  assert {
    condition     = aws_sns_topic_subscription.worker[0].protocol == "lambda" && jsondecode(aws_sns_topic_subscription.worker[0].redrive_policy).deadLetterTargetArn == "arn:aws:sqs:eu-west-1:123456789012:reports-subtasks-dlq"
    error_message = "The topic invokes the worker, and moves what it cannot deliver to the subtask DLQ."
  }
  assert {
    condition     = aws_lambda_permission.subtask_topic[0].principal == "sns.amazonaws.com" && aws_lambda_permission.subtask_topic[0].source_arn == "arn:aws:sns:eu-west-1:123456789012:reports-subtasks"
    error_message = "Only the subtask topic may invoke the worker."
  }
  assert {
    condition     = module.worker.async_invocation == { maximum_retry_attempts = 2, on_failure_destination = "arn:aws:sqs:eu-west-1:123456789012:reports-subtasks-dlq" }
    error_message = "A failed invocation is retried twice, then goes to the same DLQ and its handler."
  }
  assert {
    condition     = module.worker.reserved_concurrent_executions == 400
    error_message = "Pushed workers are capped by reserved concurrency, at worker_maximum_concurrency."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.ventilator.statement : s.resources if s.sid == "PublishSubtasks"]) == toset(["arn:aws:sns:eu-west-1:123456789012:reports-subtasks"])
    error_message = "The ventilator may publish to the subtask topic only."
  }
  assert {
    condition = { for name, alarm in aws_cloudwatch_metric_alarm.push : name => alarm.metric_name } == {
      subtask-deliveries-failed = "NumberOfNotificationsFailed"
      subtask-dead-letters-lost = "NumberOfNotificationsFailedToRedriveToDlq"
      failed-subtasks-lost      = "DestinationDeliveryFailures"
    } && aws_cloudwatch_metric_alarm.push["subtask-deliveries-failed"].dimensions.TopicName == "reports-subtasks"
    error_message = "Alarms cover deliveries SNS gave up on, dead letters it could not move, and failed invocations Lambda could not keep."
  }
  assert {
    condition     = !contains(keys(module.worker.alarm_arns), "throttles") && length([for s in data.aws_iam_policy_document.worker.statement : s if s.sid == "ConsumeSubtasks"]) == 0
    error_message = "A pushed worker is throttled by design (no alarm on it), and reads no queue."
  }
  assert {
    condition     = aws_sns_topic.subtasks[0].kms_master_key_id == "alias/aws/sns"
    error_message = "The subtask topic is encrypted."
  }
}

run "rejects_an_unknown_transport" {
  command = plan

  variables {
    transport = "eventbridge"
  }

  expect_failures = [var.transport]
}

run "rejects_resumable_workloads_pushed_by_sns" {
  command = plan

  variables {
    transport = "sns"
    workloads = {
      transcode = { process = "media.transcode:process", resumable = true }
    }
    default_workload = "transcode"
  }

  expect_failures = [var.transport]
}
