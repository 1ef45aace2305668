# The dev stack. Credentials and endpoints come from the usual AWS
# environment (profile, role, or AWS_ENDPOINT_URL for an emulator).
provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = "serverless-patterns"
      environment = "dev"
    }
  }
}

locals {
  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.root}/../../build/lambda")
}

module "load_leveler" {
  source = "../../modules/load_leveler"

  name                  = "${var.name}-ll"
  producer_package_path = "${local.lambda_build_dir}/load_leveler_producer.zip"
  consumer_package_path = "${local.lambda_build_dir}/load_leveler_consumer.zip"

  downstream_write_capacity_units = 50
  writes_per_second_per_consumer  = 10

  table_point_in_time_recovery = false
  table_deletion_protection    = false
  log_retention_days           = 7
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
  point_in_time_recovery    = false
  deletion_protection       = false
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
  worker_maximum_concurrency = 20
}
