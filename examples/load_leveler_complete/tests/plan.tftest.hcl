# The example plans offline, against a mocked AWS provider, with the zips of `make package`.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

run "the_consumers_follow_the_existing_tables_capacity" {
  command = plan

  assert {
    condition     = output.maximum_concurrency == 8 && output.writes_per_second_per_consumer == 25
    error_message = "200 WCU at 25 writes/s per consumer allows 8 consumers at once."
  }
  assert {
    condition     = module.load_leveler.table_name == "load-leveler-complete-orders"
    error_message = "The consumer must write into the existing table, not create one."
  }
}

run "a_caller_role_gets_the_invoke_policy" {
  command = plan

  variables {
    caller_role_names = ["orders-service"]
  }

  assert {
    condition     = aws_iam_role_policy_attachment.send_requests["orders-service"].role == "orders-service"
    error_message = "Each caller role gets execute-api:Invoke on the route."
  }
}
