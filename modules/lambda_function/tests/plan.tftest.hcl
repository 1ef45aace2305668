# Plan-level tests: offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name         = "orders-worker"
  package_path = "tests/fixture.zip"
  handler      = "fan_out_worker.handler.lambda_handler"
  policy_json  = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
}

run "a_function_gets_its_own_role_log_group_and_policies" {
  command = plan

  override_resource {
    target          = aws_cloudwatch_log_group.this
    values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/orders-worker" }
    override_during = plan
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/orders-worker" && aws_cloudwatch_log_group.this.retention_in_days == 30
    error_message = "The function must log to its own log group, with a retention."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.runtime.statement : s.resources if s.sid == "Logs"]) == toset(["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/orders-worker:*"])
    error_message = "The function may write to its own log group only."
  }
  assert {
    condition     = aws_iam_role_policy.access[0].policy == var.policy_json && aws_iam_role.this.name == "orders-worker-eu-west-1"
    error_message = "The caller's policy must be attached to the function's own role, named for its region (role names are global)."
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables.POWERTOOLS_SERVICE_NAME == "orders-worker"
    error_message = "Powertools must log under the function's name."
  }
  assert {
    condition     = aws_lambda_function.this.tracing_config[0].mode == "Active" && aws_lambda_function.this.runtime == "python3.12"
    error_message = "Tracing must be on and the runtime python3.12 by default."
  }
}

run "errors_and_throttles_alarm_the_topic" {
  command = plan

  variables {
    create_alarms   = true
    alarm_topic_arn = "arn:aws:sns:eu-west-1:123456789012:alerts"
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.this)) == toset(["errors", "throttles"])
    error_message = "A function with alarms must have an Errors and a Throttles alarm."
  }
  assert {
    condition = alltrue([
      for alarm in aws_cloudwatch_metric_alarm.this :
      alarm.namespace == "AWS/Lambda" && alarm.dimensions.FunctionName == "orders-worker" && alarm.ok_actions == toset(["arn:aws:sns:eu-west-1:123456789012:alerts"])
    ])
    error_message = "The alarms must watch this function and notify the topic on ALARM and OK."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["throttles"].metric_name == "Throttles" && aws_cloudwatch_metric_alarm.this["errors"].alarm_name == "orders-worker-errors"
    error_message = "Alarm names and metrics must follow <function>-<kind>."
  }
}

run "failed_async_invocations_go_to_their_destination_and_drops_alarm" {
  command = plan

  variables {
    create_alarms                    = true
    alarm_topic_arn                  = "arn:aws:sns:eu-west-1:123456789012:alerts"
    keep_failed_async_invocations    = true
    async_on_failure_destination_arn = "arn:aws:sqs:eu-west-1:123456789012:orders-failed-invocations"
  }

  assert {
    condition = (
      aws_lambda_function_event_invoke_config.this[0].destination_config[0].on_failure[0].destination == var.async_on_failure_destination_arn &&
      aws_lambda_function_event_invoke_config.this[0].maximum_retry_attempts == 2
    )
    error_message = "Failed asynchronous invocations must go to the on-failure destination after two retries."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.runtime.statement : s.actions if s.sid == "KeepFailedAsyncInvocations"]) == toset(["sqs:SendMessage"])
    error_message = "The role must be allowed to send to its on-failure queue."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["destination_delivery_failures"].metric_name == "DestinationDeliveryFailures" && aws_cloudwatch_metric_alarm.this["destination_delivery_failures"].alarm_name == "orders-worker-destination-delivery-failures" && length([for alarm in aws_cloudwatch_metric_alarm.this : alarm if alarm.metric_name == "AsyncEventsDropped"]) == 0
    error_message = "Failed asynchronous events the destination could not take (true loss) must alarm, and AsyncEventsDropped, which also counts the events kept, must not."
  }
}

run "a_long_name_keeps_its_role_name_within_64_characters" {
  command = plan

  variables {
    name = "a-function-name-of-exactly-sixty-four-characters-abcdefghijklmno"
  }

  assert {
    condition     = length(aws_iam_role.this.name) <= 64 && endswith(aws_iam_role.this.name, "-eu-west-1")
    error_message = "Role names must stay within IAM's 64 characters and keep the region."
  }
}

run "rejects_an_on_failure_destination_that_is_not_a_queue_or_topic" {
  command = plan

  variables {
    async_on_failure_destination_arn = "arn:aws:s3:::bucket"
  }

  expect_failures = [var.async_on_failure_destination_arn]
}

run "rejects_keeping_failed_invocations_without_a_destination" {
  command = plan

  variables {
    keep_failed_async_invocations = true
  }

  expect_failures = [var.async_on_failure_destination_arn]
}

run "rejects_alarms_without_a_topic" {
  command = plan

  variables {
    create_alarms = true
  }

  expect_failures = [var.alarm_topic_arn]
}

run "rejects_bad_settings" {
  command = plan

  variables {
    name               = "not a function name"
    package_path       = "build/worker.tar.gz"
    timeout_seconds    = 901
    log_retention_days = 2
  }

  expect_failures = [var.name, var.package_path, var.timeout_seconds, var.log_retention_days]
}

run "a_function_that_calls_no_aws_api_gets_no_access_policy" {
  command = plan

  variables {
    attach_policy_json = false
    policy_json        = null
  }

  assert {
    condition     = length(aws_iam_role_policy.access) == 0 && aws_iam_role_policy.runtime.name == "runtime"
    error_message = "Without attach_policy_json only the runtime policy (logs, X-Ray) may be attached."
  }
}

run "rejects_a_missing_policy" {
  command = plan

  variables {
    policy_json = null
  }

  expect_failures = [var.policy_json]
}
