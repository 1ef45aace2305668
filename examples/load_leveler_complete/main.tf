# A production-shaped load leveler in front of a table you already own: the
# consumers' concurrency follows that table's write capacity, callers need an
# IAM role allowed on the API route, the API is throttled, and every alarm goes
# to a shared alert topic that emails the on-call.
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

locals {
  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.module}/../../build/lambda")
}

# Stands in for your own table: the consumer needs only a string key request_id.
resource "aws_dynamodb_table" "orders" {
  name           = "${var.name}-orders"
  billing_mode   = "PROVISIONED"
  read_capacity  = 5
  write_capacity = var.table_write_capacity_units
  hash_key       = "request_id"

  attribute {
    name = "request_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = true
}

module "alerts" {
  source = "../../modules/dlq_monitoring/modules/alert_topic"

  name                     = "${var.name}-alerts"
  email_addresses          = var.alert_email_addresses
  runbook_url              = var.runbook_url
  permissions_boundary_arn = var.permissions_boundary_arn
}

module "load_leveler" {
  source = "../../modules/load_leveler"

  name                  = var.name
  producer_package_path = "${local.lambda_build_dir}/load_leveler_producer.zip"
  consumer_package_path = "${local.lambda_build_dir}/load_leveler_consumer.zip"
  architecture          = "arm64"

  create_table = false
  table_name   = aws_dynamodb_table.orders.name
  table_arn    = aws_dynamodb_table.orders.arn
  # Must match the table: the consumers' concurrency and pace are derived from it.
  downstream_write_capacity_units = var.table_write_capacity_units
  writes_per_second_per_consumer  = 25

  api_authorization_type        = "AWS_IAM"
  api_throttling_rate_limit     = 500
  api_throttling_burst_limit    = 1000
  producer_reserved_concurrency = 50
  idempotency_window_seconds    = 3600

  queue = {
    max_receive_count             = 10
    dlq_message_retention_seconds = 14 * 86400
    depth_alarm_threshold         = 50000
  }

  create_alert_topic       = false
  alert_topic_arn          = module.alerts.topic_arn
  log_retention_days       = 90
  tracing_mode             = "Active"
  runbook_url              = var.runbook_url
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = { pattern = "load-leveling" }
}

# The principals that may send requests: a role your services assume.
data "aws_iam_policy_document" "send_requests" {
  statement {
    actions   = ["execute-api:Invoke"]
    resources = [module.load_leveler.api_route_arn]
  }
}

resource "aws_iam_policy" "send_requests" {
  name        = "${var.name}-send-requests"
  description = "POST /requests on the ${var.name} load leveler API."
  policy      = data.aws_iam_policy_document.send_requests.json
}

resource "aws_iam_role_policy_attachment" "send_requests" {
  for_each = toset(var.caller_role_names)

  role       = each.value
  policy_arn = aws_iam_policy.send_requests.arn
}
