# A second, small stack for the integration tests: the fan-out/fan-in modules
# with transport = "sns", applied next to envs/local on the same emulator.
terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 6.0"
    }
  }
}

variable "name" {
  description = "The test run's name; this stack adds -push to it."
  type        = string
}

variable "aws_endpoint_url" {
  description = "The emulator's endpoint."
  type        = string
}

variable "lambda_build_dir" {
  description = "Folder holding the zips of `make package`."
  type        = string
}

provider "aws" {
  region = "us-east-1"

  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
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
}

locals {
  name = "${var.name}-push"
  workloads = {
    word_count = {
      process = "serverless_patterns.workloads.word_count:process"
      merge   = "serverless_patterns.workloads.word_count:merge_counts"
    }
  }
}

module "fan_in_tracker" {
  source = "../../../../modules/fan_in_tracker"

  name                      = local.name
  consolidator_package_path = "${var.lambda_build_dir}/fan_in_consolidator.zip"
  sweeper_package_path      = "${var.lambda_build_dir}/fan_in_sweeper.zip"
  job_bucket_name           = module.fan_out.bucket_name
  job_bucket_arn            = module.fan_out.bucket_arn
  workloads                 = local.workloads
  deletion_protection       = false
  point_in_time_recovery    = false
  log_retention_days        = 1
  tracing_mode              = "PassThrough"
  environment_variables     = { POWERTOOLS_TRACE_DISABLED = "true" }
}

module "fan_out" {
  source = "../../../../modules/fan_out"

  name                       = local.name
  transport                  = "sns"
  ventilator_package_path    = "${var.lambda_build_dir}/fan_out_ventilator.zip"
  worker_package_path        = "${var.lambda_build_dir}/fan_out_worker.zip"
  dlq_handler_package_path   = "${var.lambda_build_dir}/fan_out_dlq_handler.zip"
  tracker_table_name         = module.fan_in_tracker.table_name
  tracker_table_arn          = module.fan_in_tracker.table_arn
  consolidator_function_name = module.fan_in_tracker.consolidator_function_name
  consolidator_function_arn  = module.fan_in_tracker.consolidator_function_arn
  workloads                  = local.workloads
  min_chunk_size_bytes       = 256
  worker_timeout_seconds     = 30
  # MiniStack drops a topic's deliveries beyond the worker's reserved
  # concurrency (AWS queues and retries them): above the test job's subtasks.
  worker_maximum_concurrency = 50
  bucket_force_destroy       = true
  log_retention_days         = 1
  tracing_mode               = "PassThrough"
  environment_variables      = { POWERTOOLS_TRACE_DISABLED = "true" }
}

output "fan_out" {
  description = "What the tests call: the ventilator, the topic, the bucket, the tracker."
  value = {
    ventilator_function_name = module.fan_out.ventilator_function_name
    worker_function_name     = module.fan_out.worker_function_name
    subtask_topic_arn        = module.fan_out.subtask_topic_arn
    bucket_name              = module.fan_out.bucket_name
    tracker_table_name       = module.fan_in_tracker.table_name
  }
}
