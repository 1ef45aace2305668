variable "actions" {
  description = "Actions refused without TLS, e.g. [\"sqs:*\"] or [\"sns:Publish\"]."
  type        = list(string)

  validation {
    condition     = length(var.actions) > 0
    error_message = "actions must name at least one action, e.g. [\"s3:*\"]."
  }
}

variable "resources" {
  description = "ARNs of the resources the policy protects (a bucket takes both \"<arn>\" and \"<arn>/*\")."
  type        = list(string)

  validation {
    condition     = length(var.resources) > 0
    error_message = "resources must name at least one ARN."
  }
}
