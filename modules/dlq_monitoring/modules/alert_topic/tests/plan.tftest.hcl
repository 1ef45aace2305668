# Plan-level tests: offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../../../tests/terraform/mocks"
}

variables {
  name = "shop-alerts"
}

run "defaults_give_an_encrypted_topic_without_subscriptions" {
  command = plan

  override_resource {
    target          = aws_kms_key.this
    values          = { arn = "arn:aws:kms:eu-west-1:123456789012:key/1234" }
    override_during = plan
  }

  assert {
    condition     = aws_sns_topic.this.kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/1234"
    error_message = "The topic must be encrypted with the key created for it."
  }
  assert {
    condition     = aws_kms_key.this[0].enable_key_rotation
    error_message = "The created key must rotate."
  }
  assert {
    condition     = length(aws_sns_topic_subscription.email) + length(aws_sns_topic_subscription.https) + length(module.chat_forwarder) == 0
    error_message = "Nothing may be subscribed unless asked for."
  }
}

run "email_https_and_chat_subscriptions_from_variables" {
  command = plan

  variables {
    email_addresses             = ["oncall@example.com", "lead@example.com"]
    https_endpoints             = ["https://events.pagerduty.com/integration/abc/enqueue"]
    chat_webhook_urls           = { oncall = "https://hooks.slack.com/services/T0/B0/secret" }
    chat_forwarder_package_path = "./tests/fixture.zip"
  }

  assert {
    condition     = toset(keys(aws_sns_topic_subscription.email)) == toset(["oncall@example.com", "lead@example.com"]) && alltrue([for subscription in aws_sns_topic_subscription.email : subscription.protocol == "email"])
    error_message = "Every email address must be subscribed by email."
  }
  assert {
    condition     = [for subscription in aws_sns_topic_subscription.https : subscription.protocol] == ["https"]
    error_message = "Every HTTPS endpoint must be subscribed over HTTPS."
  }
  assert {
    condition     = length(module.chat_forwarder) == 1 && aws_sns_topic_subscription.chat_forwarder[0].protocol == "lambda" && aws_lambda_permission.chat_forwarder[0].principal == "sns.amazonaws.com"
    error_message = "Chat webhooks must be served by the forwarder function, subscribed to the topic and invocable by SNS only."
  }
  assert {
    condition     = output.chat_forwarder_function_name == "shop-alerts-chat"
    error_message = "The forwarder must be named after the topic."
  }
}

run "a_given_key_replaces_the_created_one" {
  command = plan

  variables {
    kms_master_key_id = "alias/alerts"
  }

  assert {
    condition     = length(aws_kms_key.this) == 0 && aws_sns_topic.this.kms_master_key_id == "alias/alerts"
    error_message = "A given key must be used and none created."
  }
}

run "rejects_bad_subscriptions" {
  command = plan

  variables {
    email_addresses = ["not-an-address"]
    https_endpoints = ["http://insecure.example.com/hook"]
  }

  expect_failures = [var.email_addresses, var.https_endpoints]
}

run "rejects_a_plain_http_chat_webhook" {
  command = plan

  variables {
    chat_webhook_urls           = { oncall = "http://hooks.example.com/services/x" }
    chat_forwarder_package_path = "./tests/fixture.zip"
  }

  expect_failures = [var.chat_webhook_urls]
}

run "rejects_chat_webhooks_without_the_forwarder_package" {
  command = plan

  variables {
    chat_webhook_urls = { oncall = "https://hooks.slack.com/services/T0/B0/secret" }
  }

  expect_failures = [var.chat_forwarder_package_path]
}
