locals {
  # An emulator without an explicit endpoint is the embedded one (`make up`).
  endpoint_url = var.aws_endpoint_url != null ? var.aws_endpoint_url : (var.emulator ? "http://127.0.0.1:4566" : null)
  emulated     = local.endpoint_url != null
}

# Real AWS takes credentials from the usual chain (profile, SSO, role); an
# emulator takes any, and every service is sent to its one endpoint.
provider "aws" {
  region = var.region

  access_key                  = local.emulated ? "test" : null
  secret_key                  = local.emulated ? "test" : null
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  skip_requesting_account_id  = local.emulated
  s3_use_path_style           = local.emulated

  dynamic "endpoints" {
    for_each = local.emulated ? [local.endpoint_url] : []
    content {
      apigatewayv2   = endpoints.value
      cloudwatch     = endpoints.value
      cloudwatchlogs = endpoints.value
      eventbridge    = endpoints.value
      dynamodb       = endpoints.value
      iam            = endpoints.value
      kms            = endpoints.value
      lambda         = endpoints.value
      s3             = endpoints.value
      sns            = endpoints.value
      sqs            = endpoints.value
      sts            = endpoints.value
    }
  }

  default_tags {
    tags = local.tags
  }
}
