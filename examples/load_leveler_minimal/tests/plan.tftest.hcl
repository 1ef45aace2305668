# The example plans offline, against a mocked AWS provider, with the zips of `make package`.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

run "the_consumers_are_capped_by_the_tables_write_capacity" {
  command = plan

  assert {
    condition     = output.maximum_concurrency == 5
    error_message = "50 WCU at 10 writes/s per consumer allows 5 consumers at once."
  }
  assert {
    condition     = output.table_name == "load-leveler-minimal-requests"
    error_message = "The module creates the downstream table, named after var.name."
  }
  assert {
    condition     = module.load_leveler.producer_function_name == "load-leveler-minimal-producer"
    error_message = "The producer behind the API is named after var.name."
  }
}
