# Plan-level tests: offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name                  = "orders"
  producer_package_path = "tests/fixture.zip"
  consumer_package_path = "tests/fixture.zip"
}

run "defaults_wire_queue_consumer_and_provisioned_table" {
  command = plan

  override_resource {
    target          = module.queue.aws_sqs_queue.this
    values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:orders-requests" }
    override_during = plan
  }
  override_resource {
    target          = aws_dynamodb_table.downstream
    values          = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-requests" }
    override_during = plan
  }
  override_resource {
    target          = aws_dynamodb_table.request_ids
    values          = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-request-ids" }
    override_during = plan
  }

  assert {
    condition     = module.queue.visibility_timeout_seconds == 6 * 30 + 1
    error_message = "The visibility timeout must default to 6 x consumer timeout + batching window."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.consumer.function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "The consumer must report partial batch failures."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.consumer.batch_size == 10 && aws_lambda_event_source_mapping.consumer.maximum_batching_window_in_seconds == 1
    error_message = "Batch size and batching window must come from the variables."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.consumer.scaling_config[0].maximum_concurrency == 5
    error_message = "Maximum concurrency must be floor(50 WCU / 10 writes per second per consumer) = 5."
  }
  assert {
    condition     = module.consumer.environment_variables.WRITES_PER_SECOND_PER_CONSUMER == "10"
    error_message = "Each consumer must be paced to writes_per_second_per_consumer."
  }
  assert {
    # A 10 s producer makes each of its three calls once, within 1 s + 2 s.
    condition     = module.producer.environment_variables.SDK_MAX_ATTEMPTS == "1" && module.producer.environment_variables.SDK_READ_TIMEOUT_SECONDS == "2"
    error_message = "The producer's SDK budget must fit its 10 s timeout."
  }
  assert {
    condition = (
      aws_dynamodb_table.downstream[0].billing_mode == "PROVISIONED" &&
      aws_dynamodb_table.downstream[0].write_capacity == 50 &&
      aws_dynamodb_table.downstream[0].server_side_encryption[0].enabled &&
      aws_dynamodb_table.downstream[0].point_in_time_recovery[0].enabled
    )
    error_message = "The downstream table must be PROVISIONED at the stated capacity, encrypted, with PITR."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.consumer.statement : s.resources if s.sid == "WriteDownstream"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/orders-requests"])
    error_message = "The consumer may write to the downstream table only."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.producer.statement : s.resources if s.sid == "Enqueue"]) == toset(["arn:aws:sqs:eu-west-1:123456789012:orders-requests"])
    error_message = "The producer may send to its queue only."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.producer.statement : s.resources if s.sid == "RememberRequestIds"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/orders-request-ids"])
    error_message = "The producer may keep request ids in its own table only."
  }
  assert {
    condition = alltrue(flatten([
      for document in [data.aws_iam_policy_document.producer, data.aws_iam_policy_document.consumer] : [
        for s in document.statement : !contains(tolist(s.resources), "*")
      ]
    ]))
    error_message = "The functions' own policies must name every resource."
  }
  assert {
    condition     = length(module.http_api) == 1 && module.http_api[0].route_keys == { submit = "POST /requests" }
    error_message = "The producer must be served at POST /requests."
  }
  assert {
    condition     = module.http_api[0].authorization_type == "AWS_IAM"
    error_message = "POST /requests must require SigV4-signed (IAM) requests by default."
  }
  assert {
    condition     = toset(keys(module.queue.alarm_arns)) == toset(["depth", "oldest_message_age", "growth", "dlq_messages", "dlq_oldest_message_age"])
    error_message = "The request queue must have its depth, age, growth and DLQ alarms."
  }
  assert {
    condition     = alltrue([for alarms in [module.producer.alarm_arns, module.consumer.alarm_arns] : toset(keys(alarms)) == toset(["errors", "throttles"])])
    error_message = "Producer and consumer must each have Errors and Throttles alarms."
  }
}

run "concurrency_is_at_least_two_and_each_consumer_gets_its_share" {
  command = plan

  variables {
    downstream_write_capacity_units = 5
    writes_per_second_per_consumer  = 10
  }

  assert {
    condition     = output.maximum_concurrency == 2
    error_message = "The derived cap must not fall below 2, the SQS event source minimum."
  }
  assert {
    condition     = output.writes_per_second_per_consumer == 2.5 && module.consumer.environment_variables.WRITES_PER_SECOND_PER_CONSUMER == "2.5"
    error_message = "Two consumers on 5 WCU must each be paced to 2.5 units/s, not the configured 10."
  }
}

run "an_explicit_concurrency_cap_wins_without_exceeding_the_downstream" {
  command = plan

  variables {
    maximum_concurrency = 10
  }

  assert {
    condition     = aws_lambda_event_source_mapping.consumer.scaling_config[0].maximum_concurrency == 10
    error_message = "maximum_concurrency must override the derived cap."
  }
  assert {
    condition     = output.writes_per_second_per_consumer == 5
    error_message = "Ten consumers on 50 WCU must each be paced to 5 units/s."
  }
}

run "a_batch_that_cannot_be_written_within_the_timeout_fails_the_plan" {
  command = plan

  variables {
    batch_size              = 1000
    batching_window_seconds = 1
  }

  expect_failures = [aws_lambda_event_source_mapping.consumer]
}

run "reserved_consumer_concurrency_below_the_cap_fails_the_plan" {
  command = plan

  variables {
    consumer_reserved_concurrency = 3
  }

  expect_failures = [aws_lambda_event_source_mapping.consumer]
}

run "a_producer_timeout_too_short_for_its_three_calls_is_refused" {
  command = plan

  variables {
    producer_timeout_seconds = 5
  }

  expect_failures = [var.producer_timeout_seconds]
}

run "the_producer_remembers_request_ids_within_an_sdk_budget_and_the_api_is_throttled" {
  command = plan

  variables {
    producer_timeout_seconds      = 29
    producer_reserved_concurrency = 50
  }

  assert {
    condition = (
      aws_dynamodb_table.request_ids.billing_mode == "PAY_PER_REQUEST" &&
      aws_dynamodb_table.request_ids.ttl[0].enabled && aws_dynamodb_table.request_ids.ttl[0].attribute_name == "expiration" &&
      aws_dynamodb_table.request_ids.server_side_encryption[0].enabled
    )
    error_message = "The request-id table must be on demand, expire its records and be encrypted."
  }
  assert {
    condition     = module.producer.environment_variables.IDEMPOTENCY_WINDOW_SECONDS == "86400"
    error_message = "The producer must remember request ids for idempotency_window_seconds."
  }
  assert {
    # Three calls of at most 2 attempts x (1 s connect + 3 s read) + 1 s backoff = 27 s, within 29 s.
    condition = (
      module.producer.environment_variables.SDK_MAX_ATTEMPTS == "2" &&
      module.producer.environment_variables.SDK_CONNECT_TIMEOUT_SECONDS == "1" &&
      module.producer.environment_variables.SDK_READ_TIMEOUT_SECONDS == "3"
    )
    error_message = "The producer's SDK budget must fit its timeout."
  }
  assert {
    condition     = module.producer.reserved_concurrent_executions == 50
    error_message = "producer_reserved_concurrency must reach the function."
  }
  assert {
    condition = (
      module.http_api[0].throttling == { rate_limit = 1000, burst_limit = 2000 }
    )
    error_message = "The HTTP API stage must be throttled by default."
  }
}

run "an_existing_table_is_used_and_none_created" {
  command = plan

  variables {
    create_table = false
    table_name   = "legacy"
    table_arn    = "arn:aws:dynamodb:eu-west-1:123456789012:table/legacy"
  }

  assert {
    condition     = length(aws_dynamodb_table.downstream) == 0 && module.consumer.environment_variables.TABLE_NAME == "legacy"
    error_message = "The consumer must write to the given table."
  }
}

run "rejects_a_visibility_timeout_under_six_consumer_timeouts" {
  command = plan

  variables {
    consumer_timeout_seconds   = 60
    visibility_timeout_seconds = 300
  }

  expect_failures = [var.visibility_timeout_seconds]
}

run "rejects_a_missing_existing_table" {
  command = plan

  variables {
    create_table = false
  }

  expect_failures = [var.table_arn]
}

run "rejects_large_batches_without_a_batching_window" {
  command = plan

  variables {
    batch_size              = 100
    batching_window_seconds = 0
  }

  expect_failures = [var.batch_size]
}

run "rejects_bad_sizes" {
  command = plan

  variables {
    name                            = "Orders_Service"
    maximum_concurrency             = 1
    downstream_write_capacity_units = 0
    log_retention_days              = 10
    api_authorization_type          = "API_KEY"
  }

  expect_failures = [
    var.name,
    var.maximum_concurrency,
    var.downstream_write_capacity_units,
    var.log_retention_days,
    var.api_authorization_type,
  ]
}
