# Plan-level tests: offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name                      = "reports"
  consolidator_package_path = "tests/fixture.zip"
  sweeper_package_path      = "tests/fixture.zip"
  job_bucket_name           = "reports-jobs"
  job_bucket_arn            = "arn:aws:s3:::reports-jobs"
}

run "the_tracker_table_consolidator_and_sweeper_are_wired" {
  command = plan

  override_resource {
    target          = aws_dynamodb_table.tracker
    values          = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/reports-jobs", name = "reports-jobs" }
    override_during = plan
  }
  override_resource {
    target          = aws_sns_topic.job_events
    values          = { arn = "arn:aws:sns:eu-west-1:123456789012:reports-job-events" }
    override_during = plan
  }

  assert {
    condition     = aws_dynamodb_table.tracker.hash_key == "pk" && aws_dynamodb_table.tracker.range_key == "sk" && aws_dynamodb_table.tracker.billing_mode == "PAY_PER_REQUEST"
    error_message = "The tracker is an on-demand table keyed by pk/sk."
  }
  assert {
    condition     = one([for index in aws_dynamodb_table.tracker.global_secondary_index : index.hash_key if index.name == "by-status"]) == "status"
    error_message = "The sweeper needs the sparse by-status index."
  }
  assert {
    condition     = aws_dynamodb_table.tracker.server_side_encryption[0].enabled && aws_dynamodb_table.tracker.point_in_time_recovery[0].enabled
    error_message = "The tracker table must be encrypted, with point-in-time recovery by default."
  }
  assert {
    condition     = aws_sns_topic.job_events.kms_master_key_id == "alias/aws/sns"
    error_message = "The job-finished topic must be encrypted."
  }
  assert {
    condition     = jsondecode(module.consolidator.environment_variables.WORKLOADS).word_count.merge == "serverless_patterns.workloads.word_count:merge_counts" && module.consolidator.environment_variables.JOB_BUCKET == "reports-jobs"
    error_message = "The consolidator must know its merge function and the job bucket."
  }
  assert {
    condition     = jsondecode(module.consolidator.environment_variables.WORKLOADS).word_count.reads == ["bytes"]
    error_message = "The consolidator's WORKLOADS must carry what each workload reads, as the fan_out functions' do."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.consolidator.statement : s.resources if s.sid == "WriteResults"]) == toset(["arn:aws:s3:::reports-jobs/results/*"])
    error_message = "The consolidator may write under results/ only."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.consolidator.statement : s.actions if s.sid == "WriteResults"]) == toset(["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"])
    error_message = "The consolidator writes its status files (in parts when large, aborted on failure) and deletes stale ones."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.sweeper.statement : s.resources if s.sid == "FindJobsByStatus"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/reports-jobs/index/by-status"])
    error_message = "The sweeper may query the status index only."
  }
  assert {
    condition     = aws_cloudwatch_event_rule.sweep.schedule_expression == "rate(1 minute)" && aws_lambda_permission.sweep.principal == "events.amazonaws.com"
    error_message = "The sweeper must run on its schedule."
  }
  assert {
    condition     = one(aws_dynamodb_table.tracker.ttl).enabled && one(aws_dynamodb_table.tracker.ttl).attribute_name == "expires_at"
    error_message = "Tracker items must expire through TTL on expires_at."
  }
  assert {
    condition     = module.consolidator.environment_variables.CONSOLIDATION_MAX_FAILURES == "5" && module.consolidator.environment_variables.CONSOLIDATOR_FUNCTION == "reports-consolidator"
    error_message = "The consolidator must know the jobs' failure budget and its own name (it starts the final merge)."
  }
  assert {
    condition     = module.consolidator.async_invocation.maximum_retry_attempts == 0
    error_message = "Lambda must not retry the consolidator: the sweeper retries each failed run once, within the job's failure budget."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.consolidator.statement : s.resources if s.sid == "StartFinalMerge"]) == toset(["arn:aws:lambda:eu-west-1:123456789012:function:reports-consolidator"])
    error_message = "The consolidator may invoke itself only."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.consolidator.statement : s.resources if s.sid == "ReduceShards"]) == toset(["arn:aws:s3:::reports-jobs/reductions/*"]) && one([for s in data.aws_iam_policy_document.consolidator.statement : s.actions if s.sid == "ReadPartialResults"]) == toset(["s3:GetObject"])
    error_message = "The consolidator reads partial results and writes its shard and staged results under reductions/ only."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.consolidations_abandoned) == 0
    error_message = "No alarm without create_function_alarms."
  }
}

run "rejects_a_grace_period_shorter_than_a_consolidation" {
  command = plan

  variables {
    consolidator_timeout_seconds = 600
    consolidation_grace_seconds  = 300
  }

  expect_failures = [var.consolidation_grace_seconds]
}

run "rejects_bad_settings" {
  command = plan

  variables {
    job_bucket_arn             = "reports-jobs"
    workloads                  = { csv = { process = "csv.workload:process", merge = "not a function reference" } }
    sweep_schedule_expression  = "every minute"
    consolidation_max_failures = 0
  }

  expect_failures = [var.job_bucket_arn, var.workloads, var.sweep_schedule_expression, var.consolidation_max_failures]
}

run "function_alarms_notify_the_given_topic" {
  command = plan

  variables {
    create_function_alarms = true
    alert_topic_arn        = "arn:aws:sns:eu-west-1:123456789012:alerts"
  }

  assert {
    condition     = alltrue([for alarms in [module.consolidator.alarm_arns, module.sweeper.alarm_arns] : toset(keys(alarms)) == toset(["errors", "throttles"])])
    error_message = "Consolidator and sweeper must each have Errors and Throttles alarms."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.consolidations_abandoned[0].metric_name == "ConsolidationsAbandoned"
      && aws_cloudwatch_metric_alarm.consolidations_abandoned[0].dimensions.service == "reports-consolidator"
      && aws_cloudwatch_metric_alarm.consolidations_abandoned[0].alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:alerts"])
      && aws_cloudwatch_metric_alarm.consolidations_abandoned[0].ok_actions == toset(["arn:aws:sns:eu-west-1:123456789012:alerts"])
    )
    error_message = "Abandoned consolidations must alarm the topic, on the consolidator's own metric."
  }
}

run "rejects_function_alarms_without_a_topic" {
  command = plan

  variables {
    create_function_alarms = true
  }

  expect_failures = [var.alert_topic_arn]
}

run "a_customer_key_for_job_events_is_granted_to_the_consolidator" {
  command = plan

  variables {
    job_events_kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.consolidator.statement : s.resources if s.sid == "EncryptJobEvents"]) == toset([var.job_events_kms_master_key_id])
    error_message = "The consolidator must be allowed to encrypt with the topic's own key."
  }
}

run "an_alias_for_job_events_other_than_aws_managed_is_refused" {
  command = plan

  variables {
    job_events_kms_master_key_id = "alias/my-key"
  }

  expect_failures = [var.job_events_kms_master_key_id]
}
