variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "load-leveler-complete"
}

variable "lambda_build_dir" {
  description = "Folder holding the zips of `make package` (of the same version as the modules)."
  type        = string
  default     = null
}

variable "table_write_capacity_units" {
  description = "Provisioned write capacity of the downstream table: the consumers never write faster."
  type        = number
  default     = 200
}

variable "caller_role_names" {
  description = "IAM roles allowed to POST /requests."
  type        = list(string)
  default     = []
}

variable "alert_email_addresses" {
  description = "Who gets the alarms (each confirms the subscription once)."
  type        = list(string)
  default     = []
}

variable "runbook_url" {
  description = "Your copy of docs/runbook.md, linked from every alarm."
  type        = string
  default     = "https://github.com/serverless-patterns/serverless-patterns/blob/main/docs/runbook.md"
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary your organization requires on every role; null sets none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every resource (the provider's default_tags)."
  type        = map(string)
  default = {
    project = "load-leveler-complete"
    owner   = "platform-team"
  }
}
