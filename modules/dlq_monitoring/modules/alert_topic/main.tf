# The encrypted SNS topic every alarm of a stack notifies, with the
# subscriptions an on-call team asks for: email, HTTPS (paging services) and
# chat webhooks (Slack, Microsoft Teams, Google Chat, Mattermost...) through a
# small forwarder function, since chat webhooks cannot confirm SNS subscriptions.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  create_key     = var.kms_master_key_id == null
  kms_key_id     = local.create_key ? aws_kms_key.this[0].arn : var.kms_master_key_id
  account_id     = data.aws_caller_identity.current.account_id
  alarm_arn_glob = "arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.name}:${local.account_id}:alarm:*"

  # How many webhooks there are is not a secret; their URLs are.
  create_chat_forwarder = nonsensitive(length(var.chat_webhook_urls)) > 0
}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109:In a key policy "*" is this key; the account root administering it is AWS's default key policy.
  # checkov:skip=CKV_AWS_111:In a key policy "*" is this key; the account root administering it is AWS's default key policy.
  # checkov:skip=CKV_AWS_356:In a key policy "*" is this key, not every resource.
  count = local.create_key ? 1 : 0

  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"] # In a key policy "*" means this key.
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishEncrypted"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # In a key policy "*" means this key.
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  count = local.create_key ? 1 : 0

  description             = "Encrypts the ${var.name} alert topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key[0].json
  tags                    = var.tags
}

resource "aws_sns_topic" "this" {
  name              = var.name
  kms_master_key_id = local.kms_key_id
  tags              = var.tags
}

module "tls_only" {
  source = "../../../deny_insecure_transport"

  actions   = ["sns:Publish"]
  resources = [aws_sns_topic.this.arn]
}

data "aws_iam_policy_document" "topic" {
  source_policy_documents = [module.tls_only.json]

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.alarm_arn_glob]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}

################################################################################
# Subscriptions
################################################################################

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.email_addresses)

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "https" {
  for_each = toset(var.https_endpoints)

  topic_arn              = aws_sns_topic.this.arn
  protocol               = "https"
  endpoint               = each.value
  endpoint_auto_confirms = var.https_endpoints_auto_confirm
}

module "chat_forwarder" {
  source = "../../../lambda_function"
  count  = local.create_chat_forwarder ? 1 : 0

  permissions_boundary_arn = var.permissions_boundary_arn

  name               = "${var.name}-chat"
  description        = "Posts ${var.name} alarm notifications to chat webhooks"
  package_path       = var.chat_forwarder_package_path
  handler            = "alert_chat_forwarder.handler.lambda_handler"
  architecture       = var.architecture
  runtime            = var.runtime
  timeout_seconds    = 10
  memory_size        = 128
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  attach_policy_json = false # It calls no AWS API.
  tags               = var.tags

  # A broken forwarder still reaches the email and HTTPS subscribers.
  create_alarms   = true
  alarm_topic_arn = aws_sns_topic.this.arn
  runbook_url     = var.runbook_url

  environment_variables = merge(var.environment_variables, {
    POWERTOOLS_METRICS_NAMESPACE = "ServerlessPatterns/Alerts"
    CHAT_WEBHOOK_URLS            = jsonencode(var.chat_webhook_urls)
  })
}

resource "aws_lambda_permission" "chat_forwarder" {
  count = local.create_chat_forwarder ? 1 : 0

  statement_id  = "AllowAlertTopicInvoke"
  action        = "lambda:InvokeFunction"
  function_name = module.chat_forwarder[0].function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.this.arn
}

resource "aws_sns_topic_subscription" "chat_forwarder" {
  count = local.create_chat_forwarder ? 1 : 0

  topic_arn = aws_sns_topic.this.arn
  protocol  = "lambda"
  endpoint  = module.chat_forwarder[0].function_arn

  depends_on = [aws_lambda_permission.chat_forwarder]
}
