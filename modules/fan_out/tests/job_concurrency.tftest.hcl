# A job's max_concurrency: the deployment's default and ceiling, and who may send a windowed job's
# next subtasks. Plan-level, offline, against a mocked AWS provider.
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

run "jobs_are_windowed_by_default_and_the_workers_send_their_next_subtasks" {
  command = plan

  assert {
    condition     = module.ventilator.environment_variables.DEFAULT_JOB_MAX_CONCURRENCY == tostring(var.worker_maximum_concurrency * var.worker_batch_size) && module.ventilator.environment_variables.JOB_MAX_CONCURRENCY_LIMIT == "1000"
    error_message = "A job that sets no max_concurrency gets the workers' capacity (maximum concurrency x batch size), and a spec may ask up to 1,000."
  }

  assert {
    condition     = alltrue([for function in [module.worker, module.dlq_handler] : contains(keys(function.environment_variables), "SUBTASK_QUEUE_URL")])
    error_message = "The worker and the DLQ handler send a windowed job's next subtasks: both know the subtask queue."
  }

  assert {
    condition     = [for statement in data.aws_iam_policy_document.send_next_subtasks.statement : statement.sid] == ["SendNextSubtasks", "ReadPlans"] && length(data.aws_iam_policy_document.worker.source_policy_documents) == 2 && length(data.aws_iam_policy_document.dlq_handler.source_policy_documents) == 2
    error_message = "The worker and the DLQ handler may send the next subtasks to the queue, built from the job's plan (send_next_subtasks, in both policies)."
  }
}

run "zero_dispatches_jobs_whole" {
  command = plan

  variables {
    default_job_max_concurrency = 0
  }

  assert {
    condition     = module.ventilator.environment_variables.DEFAULT_JOB_MAX_CONCURRENCY == "0"
    error_message = "default_job_max_concurrency = 0 tells the ventilator to send jobs that set none whole."
  }
}

run "the_capacity_default_never_passes_the_ceiling" {
  command = plan

  variables {
    worker_maximum_concurrency = 1000
    job_max_concurrency_limit  = 500
  }

  assert {
    condition     = module.ventilator.environment_variables.DEFAULT_JOB_MAX_CONCURRENCY == "500"
    error_message = "The workers' capacity is capped at job_max_concurrency_limit."
  }
}

run "a_lane_claim_lasts_the_claimers_invocation" {
  command = plan

  assert {
    condition     = module.worker.environment_variables.LANE_CLAIM_SECONDS == tostring(var.worker_timeout_seconds) && module.dlq_handler.environment_variables.LANE_CLAIM_SECONDS == "30"
    error_message = "A claim on a lane's step is held for the claiming function's timeout: a later delivery takes a dead claimer's step over."
  }
}

run "a_default_above_the_ceiling_is_refused" {
  command = plan

  variables {
    default_job_max_concurrency = 2000
  }

  expect_failures = [var.default_job_max_concurrency]
}

run "a_default_that_is_no_whole_number_is_refused" {
  command = plan

  variables {
    default_job_max_concurrency = 2.5
  }

  expect_failures = [var.default_job_max_concurrency]
}

run "a_ceiling_past_10000_is_refused" {
  command = plan

  variables {
    job_max_concurrency_limit = 20000
  }

  expect_failures = [var.job_max_concurrency_limit]
}
