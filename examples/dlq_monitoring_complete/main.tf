# Several monitored queues of one service, production-shaped: SSE-KMS with a
# key of your own, visibility derived from each consumer's timeout, alarm
# thresholds per queue, one alert topic for all of them (email and an HTTPS
# endpoint such as an incident tool), and one dashboard.
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

# Your consumers' roles need kms:Decrypt on it (and producers kms:GenerateDataKey).
resource "aws_kms_key" "queues" {
  description         = "${var.name} queues"
  enable_key_rotation = true
}

module "alerts" {
  source = "../../modules/dlq_monitoring/modules/alert_topic"

  name            = "${var.name}-alerts"
  email_addresses = var.alert_email_addresses
  https_endpoints = var.alert_https_endpoints
  runbook_url     = var.runbook_url
}

module "queues" {
  source   = "../../modules/dlq_monitoring"
  for_each = var.queues

  name = "${var.name}-${each.key}"
  # AWS: at least six times the timeout of the function that consumes the queue.
  visibility_timeout_seconds    = 6 * each.value.consumer_timeout_seconds
  message_retention_seconds     = each.value.retention_days * 86400
  dlq_message_retention_seconds = 14 * 86400
  max_receive_count             = each.value.max_receive_count
  depth_alarm_threshold         = each.value.depth_alarm_threshold
  kms_master_key_id             = aws_kms_key.queues.arn

  create_alert_topic = false
  alert_topic_arn    = module.alerts.topic_arn
  runbook_url        = var.runbook_url
  tags               = { service = var.name }
}

module "dashboard" {
  source = "../../modules/dlq_monitoring/modules/dashboard"

  name = "${var.name}-queues"
  queues = {
    for key, queue in module.queues : key => {
      queue_name              = queue.queue_name
      dlq_name                = queue.dlq_name
      consumer_function_names = var.queues[key].consumer_function_names
      alarm_thresholds        = queue.alarm_thresholds
    }
  }
  alarm_arns  = sort(flatten([for queue in values(module.queues) : values(queue.alarm_arns)]))
  runbook_url = var.runbook_url
}
