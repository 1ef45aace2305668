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
  # Low, with a short consumer timeout (visibility = 6 x timeout), so a poison
  # message reaches the DLQ within about a minute on the emulator.
  max_receive_count = 2
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
  environment_variables = {
    # No X-Ray daemon runs beside the emulator.
    POWERTOOLS_TRACE_DISABLED = "true"
  }
}
