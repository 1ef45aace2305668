# The smallest fan-out/fan-in job stack: the two modules wired to each other,
# every other input at its default, the example word count as the workload.
provider "aws" {
  region = var.region
}

locals {
  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.module}/../../build/lambda")
  workloads = {
    word_count = {
      process = "serverless_patterns.workloads.word_count:process"
      merge   = "serverless_patterns.workloads.word_count:merge_counts"
    }
  }
}

module "fan_in_tracker" {
  source = "../../modules/fan_in_tracker"

  name                      = var.name
  consolidator_package_path = "${local.lambda_build_dir}/fan_in_consolidator.zip"
  sweeper_package_path      = "${local.lambda_build_dir}/fan_in_sweeper.zip"
  job_bucket_name           = module.fan_out.bucket_name
  job_bucket_arn            = module.fan_out.bucket_arn
  workloads                 = local.workloads
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
  workloads                  = local.workloads
}
