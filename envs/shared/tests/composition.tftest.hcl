# Plan-level tests of the composition every env applies: offline, against a
# mocked AWS provider, with the zips of `make package`. The envs themselves
# are planned against the emulator in tests/integration/test_env_plans.py.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  environment      = "staging"
  lambda_build_dir = "../../build/lambda"
}

run "one_inventory_topic_and_dashboard_named_after_the_environment" {
  command = plan

  assert {
    condition     = keys(output.monitoring.queues) == ["fan_out", "load_leveler"]
    error_message = "Every queue of the stack must be in the inventory."
  }
  assert {
    condition     = output.monitoring.queues.load_leveler.queue_name == "sp-staging-ll-requests" && output.monitoring.queues.fan_out.dlq_name == "sp-staging-fo-subtasks-dlq"
    error_message = "Resources must be named sp-<environment>-… unless name is set."
  }
  assert {
    condition     = output.monitoring.dashboard_name == "sp-staging-queues"
    error_message = "The stack must have one dashboard, <name>-queues."
  }
  assert {
    condition     = length(output.monitoring.function_names) == 8 && output.monitoring.chat_forwarder_function_name == null
    error_message = "Eight pattern functions (the job API's included), and no chat forwarder without chat webhooks."
  }
}

run "chat_webhooks_add_the_forwarder" {
  command = plan

  variables {
    chat_webhook_urls = { oncall = "https://hooks.slack.com/services/T0/B0/secret" }
  }

  assert {
    condition     = output.monitoring.chat_forwarder_function_name == "sp-staging-alerts-chat"
    error_message = "Chat webhooks must be served by the stack's forwarder."
  }
}

run "an_emulator_without_http_apis_gets_the_producer_alone" {
  command = plan

  variables {
    create_http_api = false
  }

  assert {
    condition     = output.load_leveler.api_endpoint == null && output.load_leveler.api_route_arn == null && output.fan_out.job_api_endpoint == null
    error_message = "create_http_api = false (TF_VAR_create_http_api, for LocalStack Community) must leave both HTTP APIs out."
  }
}

run "rejects_bad_names_and_urls" {
  command = plan

  variables {
    environment      = "Staging!"
    name             = "A"
    aws_endpoint_url = "127.0.0.1:4566"
    runbook_url      = "docs/runbook.md"
  }

  expect_failures = [var.environment, var.name, var.aws_endpoint_url, var.runbook_url]
}
