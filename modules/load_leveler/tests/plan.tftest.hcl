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
    condition = alltrue(flatten([
      for document in [data.aws_iam_policy_document.producer, data.aws_iam_policy_document.consumer] : [
        for s in document.statement : !contains(tolist(s.resources), "*")
      ]
    ]))
    error_message = "The functions' own policies must name every resource."
  }
  assert {
    condition     = length(aws_apigatewayv2_route.submit) == 1 && aws_apigatewayv2_route.submit[0].route_key == "POST /requests"
    error_message = "The producer must be served at POST /requests."
  }
  assert {
    condition     = aws_apigatewayv2_route.submit[0].authorization_type == "AWS_IAM"
    error_message = "POST /requests must require SigV4-signed (IAM) requests by default."
  }
  assert {
    condition     = toset(keys(module.queue.alarm_arns)) == toset(["depth", "oldest_message_age", "growth", "dlq_messages"])
    error_message = "The request queue must have its depth, age, growth and DLQ alarms."
  }
  assert {
    condition     = alltrue([for alarms in [module.producer.alarm_arns, module.consumer.alarm_arns] : toset(keys(alarms)) == toset(["errors", "throttles"])])
    error_message = "Producer and consumer must each have Errors and Throttles alarms."
  }
}

run "concurrency_is_at_least_two_and_can_be_overridden" {
  command = plan

  variables {
    downstream_write_capacity_units = 5
    writes_per_second_per_consumer  = 10
  }

  assert {
    condition     = output.maximum_concurrency == 2
    error_message = "The derived cap must not fall below 2, the SQS event source minimum."
  }
}

run "an_explicit_concurrency_cap_wins" {
  command = plan

  variables {
    maximum_concurrency = 7
  }

  assert {
    condition     = aws_lambda_event_source_mapping.consumer.scaling_config[0].maximum_concurrency == 7
    error_message = "maximum_concurrency must override the derived cap."
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
