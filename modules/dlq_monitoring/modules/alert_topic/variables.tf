variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 256
    error_message = "name must be at most 256 characters (an SNS topic name)."
  }

  validation {
    condition     = nonsensitive(length(var.chat_webhook_urls)) == 0 || length(var.name) <= 59
    error_message = "name must be at most 59 characters with chat_webhook_urls: the forwarder function and its role are named \"<name>-chat\" (64 at most)."
  }
}

variable "kms_master_key_id" {
  description = "KMS key for the topic. null creates a customer managed key CloudWatch may use (alarms cannot publish to a topic encrypted with the AWS managed alias/aws/sns key)."
  type        = string
  default     = null
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before the created key is deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be between 7 and 30."
  }
}

variable "email_addresses" {
  description = "Email addresses subscribed to the alerts. Each recipient confirms by clicking the link AWS sends."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.email_addresses : can(regex("^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$", address))])
    error_message = "email_addresses must hold email addresses such as oncall@example.com."
  }
}

variable "https_endpoints" {
  description = "HTTPS endpoints subscribed to the alerts (PagerDuty, Opsgenie and other paging services give one). The endpoint must confirm the subscription."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for endpoint in var.https_endpoints : can(regex("^https://[^[:space:]]+$", endpoint))])
    error_message = "https_endpoints must hold https:// URLs; SNS does not deliver alerts over plain HTTP here."
  }
}

variable "https_endpoints_auto_confirm" {
  description = "Whether the HTTPS endpoints confirm subscriptions on their own (most paging services do), so Terraform waits for the confirmation."
  type        = bool
  default     = false
}

variable "chat_webhook_urls" {
  description = "Chat incoming-webhook URLs by name, e.g. { oncall = \"https://hooks.slack.com/services/...\" }. Each gets a {\"text\": ...} message per alarm change; Slack, Microsoft Teams, Google Chat and Mattermost accept it (Discord through its /slack URL). The URLs are secrets: they are kept in Terraform state and in the forwarder's environment (encrypted at rest)."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for url in values(var.chat_webhook_urls) : can(regex("^(https://|http://(127\\.0\\.0\\.1|localhost)[:/])", url))])
    error_message = "chat_webhook_urls values must be https:// URLs (plain http only to 127.0.0.1 or localhost, for tests)."
  }
}

variable "chat_forwarder_package_path" {
  description = "Zip of the alert_chat_forwarder function built by `make package`; required when chat_webhook_urls is set."
  type        = string
  default     = null

  validation {
    condition     = nonsensitive(length(var.chat_webhook_urls)) == 0 || var.chat_forwarder_package_path != null
    error_message = "chat_forwarder_package_path is required with chat_webhook_urls: pass the alert_chat_forwarder.zip built by `make package`."
  }

}

variable "runtime" {
  description = "Python runtime of the chat forwarder."
  type        = string
  default     = "python3.12"
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

variable "runbook_url" {
  description = "Runbook linked from the module's alarm descriptions and dashboards (e.g. docs/runbook.md in your repository); null links none."
  type        = string
  default     = null

  validation {
    condition     = var.runbook_url == null || can(regex("^https?://", var.runbook_url))
    error_message = "runbook_url must be an http(s) URL (e.g. the docs/runbook.md page of your repository) or null."
  }
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
