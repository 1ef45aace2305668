# The one composition every environment applies: envs/<env>/ links these files
# and differs only in terraform.tfvars (and, for dev and prod, its backend).

locals {
  name             = coalesce(var.name, "sp-${var.environment}")
  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.root}/../../build/lambda")

  tags = merge(var.tags, {
    project       = "serverless-patterns"
    environment   = var.environment
    owner         = var.owner
    "cost-center" = var.cost_center
  })

  # kms_key_arn encrypts every queue whose settings name no key of their own
  # (null settings are unset, as the modules read them). A queue setting that
  # is not an object is passed on as given, for the module to refuse it.
  stack_queue_key = var.kms_key_arn == null ? {} : { kms_master_key_id = var.kms_key_arn }
  queue_settings = {
    for pattern, settings in { load_leveler = var.load_leveler.queue, fan_out = var.fan_out.queue } :
    pattern => try(merge(local.stack_queue_key, { for key, value in settings : key => value if value != null }), settings)
  }
  # The job events topic: the stack's key, else SNS's AWS managed key.
  job_events_kms_master_key_id = coalesce(var.kms_key_arn, "alias/aws/sns")

  # Shared by every function of the stack.
  function_settings = {
    log_retention_days    = var.log_retention_days
    tracing_mode          = var.tracing_mode
    environment_variables = var.environment_variables
    runbook_url           = var.runbook_url
  }
}

################################################################################
# Alerting and the queue inventory (dlq_monitoring)
################################################################################

module "alerts" {
  source = "../../modules/dlq_monitoring/modules/alert_topic"

  architecture = var.architecture

  name                         = "${local.name}-alerts"
  email_addresses              = var.alerts.email_addresses
  https_endpoints              = var.alerts.https_endpoints
  https_endpoints_auto_confirm = var.alerts.https_endpoints_auto_confirm
  chat_webhook_urls            = var.chat_webhook_urls
  chat_forwarder_package_path  = "${local.lambda_build_dir}/alert_chat_forwarder.zip"
  log_retention_days           = local.function_settings.log_retention_days
  tracing_mode                 = local.function_settings.tracing_mode
  environment_variables        = local.function_settings.environment_variables
  runbook_url                  = local.function_settings.runbook_url
  permissions_boundary_arn     = var.permissions_boundary_arn
  tags                         = { module = "dlq_monitoring" }
}

locals {
  # Every queue of the stack, registered once: the dashboard draws it and the
  # env plan tests check each has its DLQ and alarms.
  queue_inventory = merge(module.load_leveler.queues, module.fan_out.queues)
  function_names  = concat(module.load_leveler.function_names, module.fan_out.function_names, module.fan_in_tracker.function_names)
  alarm_arns = sort(concat(
    flatten([for queue in values(local.queue_inventory) : values(queue.alarm_arns)]),
    flatten([for alarms in values(module.load_leveler.function_alarm_arns) : values(alarms)]),
    flatten([for alarms in values(module.fan_out.function_alarm_arns) : values(alarms)]),
    values(module.fan_out.push_alarm_arns),
    flatten([for alarms in values(module.fan_in_tracker.function_alarm_arns) : values(alarms)]),
    compact([
      module.fan_in_tracker.consolidations_abandoned_alarm_arn,
      module.fan_out.messages_quarantined_alarm_arn,
      module.fan_out.failed_invocations_alarm_arn,
      module.fan_out.subtasks_failed_alarm_arn,
      module.load_leveler.writes_throttled_alarm_arn,
    ]),
    values(module.alerts.alarm_arns),
  ))
}

module "dashboard" {
  source = "../../modules/dlq_monitoring/modules/dashboard"

  name           = "${local.name}-queues"
  queues         = local.queue_inventory
  function_names = local.function_names
  alarm_arns     = local.alarm_arns
  runbook_url    = var.runbook_url
}

################################################################################
# Patterns
################################################################################

module "load_leveler" {
  source = "../../modules/load_leveler"

  architecture = var.architecture

  name                  = "${local.name}-ll"
  producer_package_path = "${local.lambda_build_dir}/load_leveler_producer.zip"
  consumer_package_path = "${local.lambda_build_dir}/load_leveler_consumer.zip"

  downstream_write_capacity_units = var.load_leveler.downstream_write_capacity_units
  writes_per_second_per_consumer  = var.load_leveler.writes_per_second_per_consumer
  batch_size                      = var.load_leveler.batch_size
  batching_window_seconds         = var.load_leveler.batching_window_seconds
  consumer_timeout_seconds        = var.load_leveler.consumer_timeout_seconds
  create_http_api                 = var.create_http_api
  api_authorization_type          = var.load_leveler.api_authorization_type
  queue                           = local.queue_settings.load_leveler
  create_alert_topic              = false
  alert_topic_arn                 = module.alerts.topic_arn

  table_point_in_time_recovery = var.data_protection.point_in_time_recovery
  table_deletion_protection    = var.data_protection.deletion_protection

  log_retention_days       = local.function_settings.log_retention_days
  tracing_mode             = local.function_settings.tracing_mode
  environment_variables    = local.function_settings.environment_variables
  runbook_url              = local.function_settings.runbook_url
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = { module = "load_leveler" }
}

module "fan_in_tracker" {
  source = "../../modules/fan_in_tracker"

  architecture = var.architecture

  name                      = "${local.name}-fo"
  consolidator_package_path = "${local.lambda_build_dir}/fan_in_consolidator.zip"
  sweeper_package_path      = "${local.lambda_build_dir}/fan_in_sweeper.zip"
  job_bucket_name           = module.fan_out.bucket_name
  job_bucket_arn            = module.fan_out.bucket_arn
  create_function_alarms    = true
  alert_topic_arn           = module.alerts.topic_arn

  keep_failed_async_invocations = true
  async_failure_destination_arn = module.fan_out.failed_invocations_queue_arn

  job_events_kms_master_key_id = local.job_events_kms_master_key_id

  workloads                    = var.workloads
  consolidator_timeout_seconds = var.fan_in.consolidator_timeout_seconds
  consolidation_grace_seconds  = var.fan_in.consolidation_grace_seconds
  consolidation_max_failures   = var.fan_in.consolidation_max_failures
  point_in_time_recovery       = var.data_protection.point_in_time_recovery
  deletion_protection          = var.data_protection.deletion_protection

  log_retention_days       = local.function_settings.log_retention_days
  tracing_mode             = local.function_settings.tracing_mode
  environment_variables    = local.function_settings.environment_variables
  runbook_url              = local.function_settings.runbook_url
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = { module = "fan_in_tracker" }
}

module "fan_out" {
  source = "../../modules/fan_out"

  architecture = var.architecture

  name                       = "${local.name}-fo"
  ventilator_package_path    = "${local.lambda_build_dir}/fan_out_ventilator.zip"
  worker_package_path        = "${local.lambda_build_dir}/fan_out_worker.zip"
  dlq_handler_package_path   = "${local.lambda_build_dir}/fan_out_dlq_handler.zip"
  api_package_path           = "${local.lambda_build_dir}/fan_out_api.zip"
  create_job_api             = var.create_http_api
  tracker_table_name         = module.fan_in_tracker.table_name
  tracker_table_arn          = module.fan_in_tracker.table_arn
  consolidator_function_name = module.fan_in_tracker.consolidator_function_name
  consolidator_function_arn  = module.fan_in_tracker.consolidator_function_arn

  workloads                   = var.workloads
  default_workload            = var.default_workload
  workload_manifest_path      = "${local.lambda_build_dir}/workloads.json"
  min_chunk_size_bytes        = var.fan_out.min_chunk_size_bytes
  default_chunk_size_bytes    = var.fan_out.default_chunk_size_bytes
  max_line_bytes              = var.fan_out.max_line_bytes
  worker_timeout_seconds      = var.fan_out.worker_timeout_seconds
  worker_batch_size           = var.fan_out.worker_batch_size
  worker_maximum_concurrency  = var.fan_out.worker_maximum_concurrency
  worker_threads              = var.fan_out.worker_threads
  default_job_max_concurrency = var.fan_out.default_job_max_concurrency
  job_max_concurrency_limit   = var.fan_out.job_max_concurrency_limit
  dispatch_part_subtasks      = var.fan_out.dispatch_part_subtasks
  max_dispatchers             = var.fan_out.max_dispatchers
  inline_result_max_bytes     = var.fan_out.inline_result_max_bytes
  job_timeout_seconds         = var.fan_out.job_timeout_seconds
  subtasks_per_shard          = var.fan_out.subtasks_per_shard
  parallel_shards             = var.fan_out.parallel_shards
  job_retention_days          = var.fan_out.job_retention_days
  inputs_expiration_days      = var.fan_out.inputs_expiration_days
  results_expiration_days     = var.fan_out.results_expiration_days
  partials_expiration_days    = var.fan_out.partials_expiration_days
  transport                   = var.fan_out.transport
  max_continuations           = var.fan_out.max_continuations
  heartbeat_interval_seconds  = var.fan_out.heartbeat_interval_seconds
  checkpoint_reserve_seconds  = var.fan_out.checkpoint_reserve_seconds
  queue                       = local.queue_settings.fan_out
  create_alert_topic          = false
  alert_topic_arn             = module.alerts.topic_arn

  bucket_versioning    = var.data_protection.bucket_versioning
  bucket_force_destroy = var.data_protection.bucket_force_destroy

  log_retention_days       = local.function_settings.log_retention_days
  tracing_mode             = local.function_settings.tracing_mode
  environment_variables    = local.function_settings.environment_variables
  runbook_url              = local.function_settings.runbook_url
  permissions_boundary_arn = var.permissions_boundary_arn
  tags                     = { module = "fan_out" }
}
