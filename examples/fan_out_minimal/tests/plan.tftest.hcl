# The example plans offline, against a mocked AWS provider, with the zips of `make package`.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

run "the_two_modules_plan_wired_to_each_other" {
  command = plan

  assert {
    condition     = output.ventilator_function_name == "fan-out-minimal-ventilator"
    error_message = "The example must expose the function that starts a job, named after var.name."
  }
  assert {
    condition     = module.fan_in_tracker.consolidator_function_name == "fan-out-minimal-consolidator"
    error_message = "The tracker's consolidator must be the one fan_out starts."
  }
  assert {
    condition     = module.fan_out.worker_maximum_concurrency == 50
    error_message = "Inputs left out keep the module's defaults."
  }
}
