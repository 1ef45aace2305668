# The smallest load-leveling stack: an HTTP API that queues each request and
# answers 202, and a consumer that drains the queue into a provisioned
# DynamoDB table no faster than its write capacity. Every other input at its
# default.
provider "aws" {
  region = var.region
}

locals {
  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.module}/../../build/lambda")
}

module "load_leveler" {
  source = "../../modules/load_leveler"

  name                  = var.name
  producer_package_path = "${local.lambda_build_dir}/load_leveler_producer.zip"
  consumer_package_path = "${local.lambda_build_dir}/load_leveler_consumer.zip"
}
