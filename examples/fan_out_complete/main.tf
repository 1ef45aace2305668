# A production-shaped fan-out/fan-in stack: your own workloads, arm64
# functions, one alert topic shared by every alarm (with email subscribers), a
# dashboard of the queues, failed async invocations kept, data protection on,
# and the inputs an organization usually sets (permissions boundary, runbook,
# log retention, tags).
provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

locals {
  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.module}/../../build/lambda")

  # Shared by every module, so all functions log, trace and alarm alike.
  function_settings = {
    architecture             = "arm64"
    log_retention_days       = var.log_retention_days
    tracing_mode             = "Active"
    runbook_url              = var.runbook_url
    permissions_boundary_arn = var.permissions_boundary_arn
  }
}

module "alerts" {
  source = "../../modules/dlq_monitoring/modules/alert_topic"

  name                     = "${var.name}-alerts"
  email_addresses          = var.alert_email_addresses
  log_retention_days       = local.function_settings.log_retention_days
  tracing_mode             = local.function_settings.tracing_mode
  runbook_url              = local.function_settings.runbook_url
  permissions_boundary_arn = local.function_settings.permissions_boundary_arn
  architecture             = local.function_settings.architecture
}

module "fan_in_tracker" {
  source = "../../modules/fan_in_tracker"

  name                      = var.name
  consolidator_package_path = "${local.lambda_build_dir}/fan_in_consolidator.zip"
  sweeper_package_path      = "${local.lambda_build_dir}/fan_in_sweeper.zip"
  job_bucket_name           = module.fan_out.bucket_name
  job_bucket_arn            = module.fan_out.bucket_arn
  workloads                 = var.workloads

  consolidator_timeout_seconds = 300
  consolidator_memory_size     = 1769
  point_in_time_recovery       = true
  deletion_protection          = true

  # An async invocation of the consolidator that fails three times is kept for
  # `make job-redrive`, next to the fan-out's own failed invocations.
  keep_failed_async_invocations = true
  async_failure_destination_arn = module.fan_out.failed_invocations_queue_arn

  create_function_alarms   = true
  alert_topic_arn          = module.alerts.topic_arn
  architecture             = local.function_settings.architecture
  log_retention_days       = local.function_settings.log_retention_days
  tracing_mode             = local.function_settings.tracing_mode
  runbook_url              = local.function_settings.runbook_url
  permissions_boundary_arn = local.function_settings.permissions_boundary_arn
  tags                     = { pattern = "fan-out" }
}

module "fan_out" {
  source = "../../modules/fan_out"

  name                       = var.name
  ventilator_package_path    = "${local.lambda_build_dir}/fan_out_ventilator.zip"
  worker_package_path        = "${local.lambda_build_dir}/fan_out_worker.zip"
  dlq_handler_package_path   = "${local.lambda_build_dir}/fan_out_dlq_handler.zip"
  tracker_table_name         = module.fan_in_tracker.table_name
  tracker_table_arn          = module.fan_in_tracker.table_arn
  consolidator_function_name = module.fan_in_tracker.consolidator_function_name
  consolidator_function_arn  = module.fan_in_tracker.consolidator_function_arn

  workloads                    = var.workloads
  default_workload             = var.default_workload
  additional_input_bucket_arns = var.input_bucket_arns
  # Plan refuses a workload the zips do not hold (make package writes the manifest beside them).
  workload_manifest_path = "${local.lambda_build_dir}/workloads.json"

  # Sized for the downstream the workers call, not for the queue.
  worker_maximum_concurrency = var.worker_maximum_concurrency
  worker_timeout_seconds     = 120
  worker_memory_size         = 1024
  worker_threads             = 10
  inline_result_max_bytes    = 4096
  job_timeout_seconds        = 6 * 3600

  bucket_versioning       = true
  results_expiration_days = 90
  queue = {
    max_receive_count             = 5
    dlq_message_retention_seconds = 14 * 86400
    depth_alarm_threshold         = 500000
  }

  create_alert_topic       = false
  alert_topic_arn          = module.alerts.topic_arn
  architecture             = local.function_settings.architecture
  log_retention_days       = local.function_settings.log_retention_days
  tracing_mode             = local.function_settings.tracing_mode
  runbook_url              = local.function_settings.runbook_url
  permissions_boundary_arn = local.function_settings.permissions_boundary_arn
  tags                     = { pattern = "fan-out" }
}

module "dashboard" {
  source = "../../modules/dlq_monitoring/modules/dashboard"

  name           = "${var.name}-queues"
  queues         = module.fan_out.queues
  function_names = concat(module.fan_out.function_names, module.fan_in_tracker.function_names)
  alarm_arns = sort(concat(
    flatten([for queue in values(module.fan_out.queues) : values(queue.alarm_arns)]),
    compact([
      module.fan_out.subtasks_failed_alarm_arn,
      module.fan_out.failed_invocations_alarm_arn,
      module.fan_out.messages_quarantined_alarm_arn,
      module.fan_in_tracker.consolidations_abandoned_alarm_arn,
    ]),
  ))
  runbook_url = var.runbook_url
}
