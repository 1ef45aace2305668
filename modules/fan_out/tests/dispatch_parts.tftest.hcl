# A large job sent whole is cut into parts sent side by side: the ventilator's settings and their validation.
# Plan-level, offline, against a mocked AWS provider.
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

run "a_job_of_a_million_is_sent_by_ten_invocations_by_default" {
  command = plan

  assert {
    condition     = module.ventilator.environment_variables.DISPATCH_PART_SUBTASKS == "100000" && module.ventilator.environment_variables.MAX_DISPATCHERS == "10"
    error_message = "By default a part is 100,000 subtasks and up to 10 ventilator invocations send a job's parts."
  }

  assert {
    condition     = contains([for statement in data.aws_iam_policy_document.ventilator.statement : statement.sid], "HandOverLargeJobs")
    error_message = "The ventilator starts the invocations of a job's parts: it may invoke itself."
  }
}

run "parts_are_configurable" {
  command = plan

  variables {
    dispatch_part_subtasks = 50000
    max_dispatchers        = 4
  }

  assert {
    condition     = module.ventilator.environment_variables.DISPATCH_PART_SUBTASKS == "50000" && module.ventilator.environment_variables.MAX_DISPATCHERS == "4"
    error_message = "dispatch_part_subtasks and max_dispatchers reach the ventilator."
  }
}

run "parts_too_small_are_refused" {
  command = plan

  variables {
    dispatch_part_subtasks = 10
  }

  expect_failures = [var.dispatch_part_subtasks]
}

run "dispatchers_out_of_range_are_refused" {
  command = plan

  variables {
    max_dispatchers = 0
  }

  expect_failures = [var.max_dispatchers]
}
