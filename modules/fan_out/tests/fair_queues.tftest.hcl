# fair_queues: plan-level, offline, against a mocked AWS provider.
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

run "subtasks_name_their_job_as_message_group_by_default" {
  command = plan

  assert {
    condition = [
      for function in [module.ventilator, module.worker, module.dlq_handler] : function.environment_variables.SUBTASK_MESSAGE_GROUPS
    ] == ["job", "job", "job"]
    error_message = "By default the ventilator, the worker and the DLQ handler send each subtask with its job id as MessageGroupId."
  }
}

run "fair_queues_off_sends_no_message_group" {
  command = plan

  variables {
    fair_queues = false
  }

  assert {
    condition = [
      for function in [module.ventilator, module.worker, module.dlq_handler] : function.environment_variables.SUBTASK_MESSAGE_GROUPS
    ] == ["none", "none", "none"]
    error_message = "With fair_queues = false no function that sends subtasks names a MessageGroupId."
  }
}
