variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 64
    error_message = "name must be at most 64 characters (a Lambda function name)."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
  default     = ""
}

variable "package_path" {
  description = "Path to the function's zip built by `make package`."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".zip")
    error_message = "package_path must point to a .zip built by `make package`."
  }
}

variable "handler" {
  description = "Handler, as package.module.function."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.11, python3.12 or python3.13."
  }
}

variable "architecture" {
  description = "Instruction set of the module's functions, x86_64 or arm64 (Graviton): build the zips for it with `make package ARCHITECTURE=...`."
  type        = string
  default     = "x86_64"
  nullable    = false

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64, matching the zips (`make package ARCHITECTURE=arm64` builds for arm64)."
  }
}

variable "timeout_seconds" {
  description = "Function timeout."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for the function (taken from the account's pool, and its ceiling); -1 leaves it unreserved."
  type        = number
  default     = -1
  nullable    = false

  validation {
    condition     = var.reserved_concurrent_executions >= -1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be a whole number: -1 (unreserved), 0 (stopped) or more."
  }
}

variable "async_on_failure_destination_arn" {
  description = "SQS queue or SNS topic that receives asynchronous invocations (S3 notifications, hand-overs, Event invokes) that failed every attempt, instead of Lambda dropping them, with keep_failed_async_invocations = true (which also adds an alarm on DestinationDeliveryFailures: events the destination could not take, lost)."
  type        = string
  default     = null

  validation {
    condition     = var.async_on_failure_destination_arn == null || can(regex("^arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.async_on_failure_destination_arn))
    error_message = "async_on_failure_destination_arn must be the ARN of an SQS queue or SNS topic (arn:aws:sqs:<region>:<account>:<name>), or null."
  }

  validation {
    condition     = !var.keep_failed_async_invocations || var.async_on_failure_destination_arn != null
    error_message = "keep_failed_async_invocations needs async_on_failure_destination_arn: pass the queue or topic that keeps them."
  }
}

variable "keep_failed_async_invocations" {
  description = "Send asynchronous invocations that failed every attempt to async_on_failure_destination_arn. A separate flag because that ARN is often unknown until apply."
  type        = bool
  default     = false
  nullable    = false
}

variable "async_maximum_retry_attempts" {
  description = "Retries Lambda makes of a failed asynchronous invocation (0-2) before sending it to the on-failure destination (or dropping it, without keep_failed_async_invocations)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = contains([0, 1, 2], var.async_maximum_retry_attempts)
    error_message = "async_maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "environment_variables" {
  description = "Environment variables added to every function the module creates (e.g. POWERTOOLS_TRACE_DISABLED on an emulator without X-Ray)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key in keys(var.environment_variables) : can(regex("^[A-Za-z][A-Za-z0-9_]+$", key))])
    error_message = "environment_variables: every name must be a letter followed by letters, digits or underscores, as Lambda requires."
  }
}

variable "policy_json" {
  description = "IAM policy with the function's own permissions (logs and X-Ray are added by this module)."
  type        = string
  default     = null

  validation {
    condition     = !var.attach_policy_json || var.policy_json != null
    error_message = "policy_json is required unless attach_policy_json is false (a function that calls no AWS API)."
  }
}

variable "attach_policy_json" {
  description = "Attach policy_json to the role. false for a function that calls no AWS API. A separate flag because policy_json is often unknown until apply."
  type        = bool
  default     = true
}

variable "permissions_boundary_arn" {
  description = "IAM permissions boundary of every role the module creates, for accounts that require one; null sets none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN (arn:aws:iam::<account>:policy/<name>) or null."
  }
}

variable "log_retention_days" {
  description = "Retention in days of the log groups the module creates."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing mode of the module's functions: Active or PassThrough."
  type        = string
  default     = "Active"
  nullable    = false

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "create_alarms" {
  description = "Create Errors and Throttles alarms for the function (notifying alarm_topic_arn)."
  type        = bool
  default     = false
}

variable "alarm_on_throttles" {
  description = "With create_alarms, also alarm on Throttles. Turn it off for a function whose throttling is by design: asynchronous invocations beyond its reserved concurrency wait in Lambda's queue and are retried."
  type        = bool
  default     = true
  nullable    = false
}

variable "alarm_topic_arn" {
  description = "SNS topic the function's alarms notify on ALARM and OK."
  type        = string
  default     = null

  validation {
    condition     = !var.create_alarms || var.alarm_topic_arn != null
    error_message = "alarm_topic_arn is required when create_alarms is true."
  }
}

variable "runbook_url" {
  description = "Runbook linked from the module's alarm descriptions and dashboards (e.g. docs/runbook.md in your repository); null links none."
  type        = string
  default     = null

  validation {
    condition     = var.runbook_url == null || can(regex("^https?://", var.runbook_url))
    error_message = "runbook_url must be an http(s) URL (e.g. the docs/runbook.md page of your repository) or null."
  }
}

variable "tags" {
  description = "Tags for every resource the module creates, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key, value in var.tags : length(key) >= 1 && length(key) <= 128 && length(value) <= 256 && !startswith(lower(key), "aws:")])
    error_message = "tags: every key must be 1-128 characters and not start with \"aws:\" (reserved by AWS), every value at most 256 characters."
  }
}
