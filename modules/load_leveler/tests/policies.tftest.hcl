# The IAM policies as AWS receives them: the real provider renders the policy
# documents (no API call at plan; credentials and account lookups are skipped),
# so these assertions read the JSON, not a mock's placeholder.
provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "plan-only"
  secret_key                  = "plan-only"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

variables {
  name                  = "orders"
  producer_package_path = "tests/fixture.zip"
  consumer_package_path = "tests/fixture.zip"
  queue                 = { kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
}

# Account and region lookups answered here: the only data sources that would call AWS.
override_data {
  target = module.queue.data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}
override_data {
  target = module.queue.module.alert_topic[0].data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

run "the_rendered_policies_name_every_resource_by_arn" {
  command = plan

  override_resource {
    target          = module.queue.aws_sqs_queue.this
    values          = { arn = "arn:aws:sqs:eu-west-1:123456789012:orders-requests" }
    override_during = plan
  }
  override_resource {
    target          = aws_dynamodb_table.downstream
    values          = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-requests" }
    override_during = plan
  }
  override_resource {
    target          = aws_dynamodb_table.request_ids
    values          = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-request-ids" }
    override_during = plan
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(data.aws_iam_policy_document.consumer.json).Statement : [
        for resource in flatten([statement.Resource]) : can(regex("^arn:aws:(sqs|dynamodb|kms):eu-west-1:123456789012:", resource))
      ]
    ]))
    error_message = "Every Resource of the functions' policies must be a full ARN of this account and region (no *, no alias)."
  }
  assert {
    # Terraform reads the producer's document only at apply in this plan, so its statements are checked instead.
    condition = jsonencode({
      for statement in data.aws_iam_policy_document.producer.statement : statement.sid => sort(statement.actions)
      if alltrue([for resource in statement.resources : can(regex("^arn:aws:(sqs|dynamodb|kms):eu-west-1:123456789012:", resource))])
      }) == jsonencode({
      Enqueue              = ["sqs:SendMessage"]
      RememberRequestIds   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      EncryptQueueMessages = ["kms:Decrypt", "kms:GenerateDataKey"]
    })
    error_message = "The producer may send to its queue, keep its request ids and use the queue's key: nothing else."
  }
  assert {
    condition = jsonencode({
      for statement in jsondecode(data.aws_iam_policy_document.consumer.json).Statement : statement.Sid => sort(flatten([statement.Action]))
      }) == jsonencode({
      ConsumeQueue         = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
      WriteDownstream      = ["dynamodb:GetItem", "dynamodb:PutItem"]
      DecryptQueueMessages = ["kms:Decrypt"]
    })
    error_message = "The consumer may read its queue, write the downstream and decrypt: nothing else."
  }
}
