# The local stack: every pattern applied to the embedded emulator.
provider "aws" {
  region                      = var.region
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    apigatewayv2   = var.aws_endpoint_url
    cloudwatch     = var.aws_endpoint_url
    cloudwatchlogs = var.aws_endpoint_url
    eventbridge    = var.aws_endpoint_url
    dynamodb       = var.aws_endpoint_url
    iam            = var.aws_endpoint_url
    kms            = var.aws_endpoint_url
    lambda         = var.aws_endpoint_url
    s3             = var.aws_endpoint_url
    sns            = var.aws_endpoint_url
    sqs            = var.aws_endpoint_url
    sts            = var.aws_endpoint_url
  }

  default_tags {
    tags = {
      project     = "serverless-patterns"
      environment = "local"
    }
  }
}

locals {
  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.root}/../../build/lambda")
  # Low, with short function timeouts (visibility = 6 x timeout), so a poison
  # message reaches the DLQ within about a minute on the emulator.
  max_receive_count = 2
  # No X-Ray daemon runs beside the emulator.
  emulator_environment = { POWERTOOLS_TRACE_DISABLED = "true" }
}

module "load_leveler" {
  source = "../../modules/load_leveler"

  name                  = "${var.name}-ll"
  producer_package_path = "${local.lambda_build_dir}/load_leveler_producer.zip"
  consumer_package_path = "${local.lambda_build_dir}/load_leveler_consumer.zip"

  downstream_write_capacity_units = var.downstream_write_capacity_units
  writes_per_second_per_consumer  = var.writes_per_second_per_consumer
  batch_size                      = 10
  batching_window_seconds         = 0
  consumer_timeout_seconds        = 5
  create_http_api                 = var.create_http_api

  queue = {
    max_receive_count = local.max_receive_count
  }

  table_point_in_time_recovery = false
  log_retention_days           = 1
  tracing_mode                 = "PassThrough"
  environment_variables        = local.emulator_environment
}

module "fan_in_tracker" {
  source = "../../modules/fan_in_tracker"

  name                      = "${var.name}-fo"
  consolidator_package_path = "${local.lambda_build_dir}/fan_in_consolidator.zip"
  sweeper_package_path      = "${local.lambda_build_dir}/fan_in_sweeper.zip"
  job_bucket_name           = module.fan_out.bucket_name
  job_bucket_arn            = module.fan_out.bucket_arn
  create_function_alarms    = true
  alert_topic_arn           = module.fan_out.alert_topic_arn

  consolidator_timeout_seconds = 60
  consolidation_grace_seconds  = 120
  point_in_time_recovery       = false
  log_retention_days           = 1
  tracing_mode                 = "PassThrough"
  environment_variables        = local.emulator_environment
}

module "fan_out" {
  source = "../../modules/fan_out"

  name                       = "${var.name}-fo"
  ventilator_package_path    = "${local.lambda_build_dir}/fan_out_ventilator.zip"
  worker_package_path        = "${local.lambda_build_dir}/fan_out_worker.zip"
  dlq_handler_package_path   = "${local.lambda_build_dir}/fan_out_dlq_handler.zip"
  tracker_table_name         = module.fan_in_tracker.table_name
  tracker_table_arn          = module.fan_in_tracker.table_arn
  consolidator_function_name = module.fan_in_tracker.consolidator_function_name
  consolidator_function_arn  = module.fan_in_tracker.consolidator_function_arn

  # Small chunks, so a few hundred kilobytes make a job of 1,000+ subtasks.
  min_chunk_size_bytes       = 256
  default_chunk_size_bytes   = 4096
  max_line_bytes             = 1024
  worker_timeout_seconds     = 5
  worker_batch_size          = 10
  worker_maximum_concurrency = var.worker_maximum_concurrency
  job_timeout_seconds        = 900

  queue = {
    max_receive_count = local.max_receive_count
  }

  bucket_force_destroy  = true
  bucket_versioning     = false
  log_retention_days    = 1
  tracing_mode          = "PassThrough"
  environment_variables = local.emulator_environment
}
