# Long-running subtasks (resumable workloads): plan-level, offline, against a mocked AWS provider.
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
  workloads = {
    transcode = { process = "media.transcode:process", resumable = true }
  }
  default_workload = "transcode"
}

run "a_chain_is_configured_bounded_and_never_retried" {
  command = plan

  variables {
    worker_timeout_seconds     = 900
    heartbeat_interval_seconds = 60
    checkpoint_reserve_seconds = 30
    max_continuations          = 4
    job_timeout_seconds        = 4500 # 5 x 900 s: the longest chain fits, exactly
  }

  override_resource {
    target          = aws_s3_bucket.jobs
    values          = { arn = "arn:aws:s3:::reports-jobs-1", bucket = "reports-jobs-1", id = "reports-jobs-1" }
    override_during = plan
  }

  assert {
    condition     = jsondecode(module.worker.environment_variables.WORKLOADS).transcode.resumable == true
    error_message = "The worker must know which workloads are resumable."
  }
  assert {
    condition     = module.worker.environment_variables.HEARTBEAT_SECONDS == "60" && module.worker.environment_variables.CHECKPOINT_RESERVE_SECONDS == "30" && module.worker.environment_variables.MAX_CONTINUATIONS == "4"
    error_message = "The worker gets the heartbeat, the reserve and the bound of its chains."
  }
  assert {
    condition     = module.worker.async_invocation.maximum_retry_attempts == 0 && module.worker.async_invocation.on_failure_destination == null
    error_message = "A hand-over must not be retried: a lost one is recovered from the queue, once."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.worker.statement : s.resources if s.sid == "HandOverToItself"]) == toset(["arn:aws:lambda:eu-west-1:123456789012:function:reports-worker"])
    error_message = "The worker may invoke itself and no other function."
  }
  assert {
    condition     = contains([for rule in aws_s3_bucket_lifecycle_configuration.jobs.rule : one(rule.filter).prefix if length(rule.expiration) > 0], "checkpoints/")
    error_message = "Checkpoints expire with the job's other intermediate objects."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.worker.statement : s.resources if s.sid == "KeepCheckpoints"]) == toset(["arn:aws:s3:::reports-jobs-1/checkpoints/*"])
    error_message = "The worker keeps checkpoints under checkpoints/ only."
  }
}

run "defaults_fit_the_default_timeout_and_no_chain_no_self_invoke" {
  command = plan

  variables {
    workloads = {
      word_count = { process = "serverless_patterns.workloads.word_count:process" }
    }
    default_workload = "word_count"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.worker.statement : s if contains(["HandOverToItself", "KeepCheckpoints"], s.sid)]) == 0
    error_message = "Without a resumable workload the worker may neither invoke itself nor keep checkpoints."
  }

  assert {
    condition     = module.worker.environment_variables.HEARTBEAT_SECONDS == "20" && module.worker.environment_variables.CHECKPOINT_RESERVE_SECONDS == "10" && module.worker.environment_variables.MAX_CONTINUATIONS == "10"
    error_message = "Defaults: a 20 s heartbeat (60 s lease), a 10 s reserve, 10 continuations."
  }
}

run "rejects_a_heartbeat_no_invocation_would_beat" {
  command = plan

  variables {
    worker_timeout_seconds     = 30
    heartbeat_interval_seconds = 30
  }

  expect_failures = [var.heartbeat_interval_seconds]
}

run "rejects_a_chain_longer_than_the_job" {
  command = plan

  variables {
    worker_timeout_seconds = 900
    max_continuations      = 4
    job_timeout_seconds    = 4499
  }

  expect_failures = [var.max_continuations]
}

run "rejects_a_chain_longer_than_one_receive_may_stay_in_flight" {
  command = plan

  variables {
    worker_timeout_seconds = 900
    max_continuations      = 48 # 49 x 900 s > 12 hours
    job_timeout_seconds    = 86400
  }

  expect_failures = [var.max_continuations]
}

run "a_long_chain_is_fine_for_workloads_that_are_not_resumable" {
  command = plan

  variables {
    workloads = {
      word_count = { process = "serverless_patterns.workloads.word_count:process" }
    }
    default_workload       = "word_count"
    worker_timeout_seconds = 900
    max_continuations      = 48
  }

  assert {
    condition     = module.worker.environment_variables.MAX_CONTINUATIONS == "48"
    error_message = "The chain's length is checked only where chains can run."
  }
}

run "rejects_a_reserve_that_leaves_no_time_and_an_unbounded_chain" {
  command = plan

  variables {
    worker_timeout_seconds     = 30
    checkpoint_reserve_seconds = 30
    max_continuations          = 1001
  }

  expect_failures = [var.checkpoint_reserve_seconds, var.max_continuations]
}

run "rejects_a_fractional_bound" {
  command = plan

  variables {
    max_continuations = 2.5
  }

  expect_failures = [var.max_continuations]
}
