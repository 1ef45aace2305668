# Plan-level tests: offline. The real provider builds the document, so the
# statement itself is checked in tests/integration/test_env_plans.py.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

run "rejects_an_empty_policy" {
  command = plan

  variables {
    actions   = []
    resources = []
  }

  expect_failures = [var.actions, var.resources]
}
