# Plan-level tests: offline, against a mocked AWS provider.
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

run "the_job_bucket_queue_and_functions_are_wired" {
  command = plan

  override_resource {
    target          = aws_s3_bucket.jobs
    values          = { arn = "arn:aws:s3:::reports-jobs-1", bucket = "reports-jobs-1", id = "reports-jobs-1" }
    override_during = plan
  }
  override_resource {
    target          = module.queue.aws_sqs_queue.this
    values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:reports-subtasks" }
    override_during = plan
  }
  override_resource {
    target          = module.queue.aws_sqs_queue.dlq
    values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:reports-subtasks-dlq" }
    override_during = plan
  }

  assert {
    condition     = module.worker.environment_variables.WORKER_THREADS == "10" && module.worker.environment_variables.INLINE_RESULT_MAX_BYTES == "4096"
    error_message = "Workers must run 10 records at once and keep results up to 4 KiB in the tracker by default."
  }
  assert {
    condition     = module.queue.visibility_timeout_seconds == 6 * 60
    error_message = "The subtask queue's visibility timeout must default to 6 x the worker timeout."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.worker[0].function_response_types == toset(["ReportBatchItemFailures"]) && aws_lambda_event_source_mapping.worker[0].scaling_config[0].maximum_concurrency == 50
    error_message = "Workers must report partial batch failures, with their concurrency capped."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.dlq_handler.event_source_arn == "arn:aws:sqs:eu-west-1:123456789012:reports-subtasks-dlq"
    error_message = "The DLQ handler must consume the subtask DLQ."
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.jobs.block_public_acls && aws_s3_bucket_public_access_block.jobs.restrict_public_buckets
    error_message = "The job bucket must block public access."
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.jobs.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "The job bucket must disable ACLs (bucket owner enforced)."
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.jobs.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "The job bucket must be encrypted."
  }
  assert {
    condition     = one(aws_s3_bucket_notification.incoming.lambda_function).filter_prefix == "incoming/"
    error_message = "Only uploads under incoming/ may start a job."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.worker.statement : s.resources if s.sid == "WritePartialResults"]) == toset(["arn:aws:s3:::reports-jobs-1/partials/*"])
    error_message = "Workers may write under partials/ only."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.ventilator.statement : s.resources if s.sid == "HandOverLargeJobs"]) == toset(["arn:aws:lambda:eu-west-1:123456789012:function:reports-ventilator"])
    error_message = "The ventilator may invoke itself only."
  }
  assert {
    condition     = jsondecode(module.worker.environment_variables.WORKLOADS).word_count.process == "serverless_patterns.workloads.word_count:process" && module.worker.environment_variables.CONSOLIDATOR_FUNCTION == "reports-consolidator"
    error_message = "Workers must know their workloads and the consolidator."
  }
  assert {
    condition     = module.ventilator.environment_variables.WORKLOADS == module.worker.environment_variables.WORKLOADS && module.ventilator.environment_variables.MAX_REDRIVES == "3" && module.ventilator.environment_variables.DEFAULT_WORKLOAD == "word_count"
    error_message = "The ventilator must know the workload names jobs may choose, and the redrive cap."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.ventilator.statement : s.resources if s.sid == "KeepPlans"]) == toset(["arn:aws:s3:::reports-jobs-1/plans/*"])
    error_message = "The ventilator may keep plans under plans/ only."
  }
  assert {
    condition     = toset(keys(module.queue.alarm_arns)) == toset(["depth", "oldest_message_age", "growth", "dlq_messages", "dlq_oldest_message_age"])
    error_message = "The subtask queue must have its depth, age, growth and DLQ alarms."
  }
  assert {
    condition     = alltrue([for alarms in [module.worker.alarm_arns, module.dlq_handler.alarm_arns] : toset(keys(alarms)) == toset(["errors", "throttles"])])
    error_message = "Every fan-out function must have Errors and Throttles alarms."
  }
  assert {
    condition = (
      toset(keys(module.ventilator.alarm_arns)) == toset(["errors", "throttles", "destination_delivery_failures"]) &&
      aws_sqs_queue.failed_invocations.name == "reports-failed-invocations" &&
      aws_sqs_queue.failed_invocations.sqs_managed_sse_enabled &&
      aws_cloudwatch_metric_alarm.failed_invocations.dimensions.QueueName == "reports-failed-invocations"
    )
    error_message = "The ventilator's failed asynchronous invocations must be kept in an encrypted queue that alarms, and its dropped events alarm."
  }
  assert {
    condition     = module.queue.dlq_visibility_timeout_seconds == 6 * 30
    error_message = "The DLQ, consumed by the DLQ handler (30 s), must hide a message for 6 x its timeout."
  }
  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.dlq_handler.statement : s.resources if s.sid == "QuarantineUnrecordableMessages"]) == toset(["arn:aws:s3:::reports-jobs-1/quarantine/*"]) &&
      aws_cloudwatch_metric_alarm.messages_quarantined.metric_name == "MessagesQuarantined" &&
      aws_cloudwatch_metric_alarm.messages_quarantined.dimensions.service == "reports-dlq-handler"
    )
    error_message = "The DLQ handler may write under quarantine/ only, and its quarantines must alarm."
  }
  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.ventilator.statement : s.resources if s.sid == "ReadInputs"]) == toset(["arn:aws:s3:::reports-jobs-1/inputs/*", "arn:aws:s3:::reports-jobs-1/incoming/*"]) &&
      one([for s in data.aws_iam_policy_document.ventilator.statement : s.resources if s.sid == "TellMissingInputsFromForbiddenOnes"]) == toset(["arn:aws:s3:::reports-jobs-1"])
    )
    error_message = "The ventilator may read inputs/ and incoming/ only, and list its bucket to tell a missing input from a forbidden one."
  }
}

run "failed_subtasks_and_a_job_length_wait_alarm" {
  command = plan

  variables {
    job_timeout_seconds = 7200
  }

  assert {
    condition = (
      toset([for query in aws_cloudwatch_metric_alarm.subtasks_failed.metric_query : one(query.metric).dimensions.service if length(query.metric) > 0]) == toset(["reports-worker", "reports-dlq-handler"]) &&
      aws_cloudwatch_metric_alarm.subtasks_failed.threshold == 0
    )
    error_message = "Subtasks failed by the workers or the DLQ handler must alarm."
  }
  assert {
    condition     = module.queue.age_alarm_threshold_seconds == 7200
    error_message = "The subtask queue's age alarm must follow the job timeout."
  }
}

run "queue_settings_are_checked_by_name_type_and_limits" {
  command = plan

  variables {
    queue = { max_recieve_count = 9 }
  }

  expect_failures = [var.queue]
}

run "max_receive_count_below_five_is_refused" {
  command = plan

  variables {
    queue = { max_receive_count = 2 }
  }

  expect_failures = [var.queue]
}

run "a_kms_alias_is_refused_where_iam_needs_a_key_arn" {
  command = plan

  variables {
    queue = { kms_master_key_id = "alias/my-key" }
  }

  expect_failures = [var.queue]
}

run "a_kms_key_arn_reaches_the_queue_and_the_policies" {
  command = plan

  variables {
    queue = { kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", max_receive_count = "7" }
  }

  assert {
    condition = (
      one([for s in data.aws_iam_policy_document.ventilator.statement : s.resources if s.sid == "EncryptSubtasks"]) == toset([var.queue.kms_master_key_id]) &&
      module.queue.max_receive_count == 7
    )
    error_message = "A key ARN must reach the IAM statements, and numbers given as strings must be read as numbers."
  }
}

run "input_buckets_must_be_bucket_arns" {
  command = plan

  variables {
    additional_input_bucket_arns = ["arn:aws:s3:::ok-bucket", "arn:aws:s3:::data/*"]
  }

  expect_failures = [var.additional_input_bucket_arns]
}

run "rejects_a_visibility_timeout_under_six_worker_timeouts" {
  command = plan

  variables {
    worker_timeout_seconds     = 120
    visibility_timeout_seconds = 600
  }

  expect_failures = [var.visibility_timeout_seconds]
}

run "rejects_inconsistent_chunk_limits_and_bad_sizes" {
  command = plan

  variables {
    min_chunk_size_bytes       = 4096
    default_chunk_size_bytes   = 1024
    worker_maximum_concurrency = 1
    subtasks_per_shard         = 0
    parallel_shards            = 1001
    job_retention_days         = 0
    results_expiration_days    = 0
    max_redrives_per_job       = 0
    workloads                  = { "bad name" = { process = "count_words" } }
    worker_threads             = 0
    inline_result_max_bytes    = 65537
    ventilator_memory_size     = 64
  }

  expect_failures = [
    var.default_chunk_size_bytes,
    var.worker_maximum_concurrency,
    var.subtasks_per_shard,
    var.parallel_shards,
    var.job_retention_days,
    var.results_expiration_days,
    var.max_redrives_per_job,
    var.workloads,
    var.worker_threads,
    var.inline_result_max_bytes,
    var.ventilator_memory_size,
  ]
}

run "rejects_a_default_workload_that_is_not_deployed" {
  command = plan

  variables {
    default_workload = "csv_totals"
  }

  expect_failures = [var.default_workload]
}

run "shards_follow_the_worker_concurrency_and_data_expires" {
  command = plan

  variables {
    worker_maximum_concurrency = 100
    job_retention_days         = 7
    inputs_expiration_days     = 3
    results_expiration_days    = 90
  }

  override_resource {
    target          = aws_s3_bucket.jobs
    values          = { arn = "arn:aws:s3:::reports-jobs-1", bucket = "reports-jobs-1", id = "reports-jobs-1" }
    override_during = plan
  }

  assert {
    condition     = module.ventilator.environment_variables.PARALLEL_SHARDS == "20" && module.ventilator.environment_variables.SUBTASKS_PER_SHARD == "1000"
    error_message = "A job must write to one shard per five workers at once by default."
  }
  assert {
    condition     = module.ventilator.environment_variables.JOB_RETENTION_DAYS == "7" && module.ventilator.environment_variables.DISPATCH_STALE_SECONDS == "360"
    error_message = "The ventilator must know the tracker's retention and when a dispatch is stale."
  }
  assert {
    condition = { for rule in aws_s3_bucket_lifecycle_configuration.jobs.rule : one(rule.filter).prefix => one(rule.expiration).days if length(rule.expiration) > 0 } == {
      "partials/" = 14, "reductions/" = 14, "checkpoints/" = 14, "quarantine/" = 90, "inputs/" = 3, "incoming/" = 3, "results/" = 90, "plans/" = 7
    }
    error_message = "Partials, inputs and results must expire as configured, plans with the tracker's items."
  }
}

run "inputs_and_results_are_kept_by_default" {
  command = plan

  override_resource {
    target          = aws_s3_bucket.jobs
    values          = { arn = "arn:aws:s3:::reports-jobs-1", bucket = "reports-jobs-1", id = "reports-jobs-1" }
    override_during = plan
  }

  assert {
    condition     = [for rule in aws_s3_bucket_lifecycle_configuration.jobs.rule : one(rule.filter).prefix if length(rule.expiration) > 0] == ["checkpoints/", "partials/", "plans/", "quarantine/", "reductions/"]
    error_message = "Only intermediate results and quarantined messages expire unless asked."
  }
  assert {
    condition     = module.ventilator.environment_variables.PARALLEL_SHARDS == "10"
    error_message = "50 workers (the default) must give at least 10 shards."
  }
}

# The inputs every module repeats are validated alike (scripts/shared_variables.tf).
run "rejects_bad_shared_inputs" {
  command = plan

  variables {
    name                     = "Reports_1"
    tags                     = { "aws:owner" = "me" }
    log_retention_days       = 42
    tracing_mode             = "On"
    environment_variables    = { "1_BAD" = "x" }
    permissions_boundary_arn = "boundary"
    runbook_url              = "docs/runbook.md"
    create_alert_topic       = false
    alert_topic_arn          = "arn:aws:sqs:eu-west-1:123456789012:alerts"
  }

  expect_failures = [
    var.name,
    var.tags,
    var.log_retention_days,
    var.tracing_mode,
    var.environment_variables,
    var.permissions_boundary_arn,
    var.runbook_url,
    var.alert_topic_arn,
  ]
}
