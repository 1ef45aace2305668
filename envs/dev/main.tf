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
