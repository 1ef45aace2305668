variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "fan-out-complete"
}

variable "lambda_build_dir" {
  description = "Folder holding the zips and workloads.json of `make package` (of the same version as the modules; `WORKLOADS_FILE=your/workloads.json` bundles your workloads)."
  type        = string
  default     = null
}

variable "workloads" {
  description = "Your workloads, bundled into the zips by `make package WORKLOADS_FILE=your/workloads.json` (the default is this repository's examples/workloads/csv_totals, which envs/local bundles); plan refuses one the zips do not hold."
  type = map(object({
    process   = string
    merge     = optional(string)
    resumable = optional(bool, false)
    reads     = optional(list(string))
  }))
  default = {
    csv_totals = {
      process = "csv_totals.workload:process"
      merge   = "csv_totals.workload:merge"
      reads   = ["records"]
    }
  }
}

variable "default_workload" {
  description = "The workload of jobs that name none."
  type        = string
  default     = "csv_totals"
}

variable "input_bucket_arns" {
  description = "Buckets, besides the job bucket, whose objects jobs may read."
  type        = list(string)
  default     = []
}

variable "worker_maximum_concurrency" {
  description = "Workers at once: what the service the workload calls can take."
  type        = number
  default     = 200
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

variable "log_retention_days" {
  description = "Retention of every log group."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags of every resource (the provider's default_tags)."
  type        = map(string)
  default = {
    project = "fan-out-complete"
    owner   = "platform-team"
  }
}
