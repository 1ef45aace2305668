variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 255
    error_message = "name must be at most 255 characters (a CloudWatch dashboard name)."
  }
}

variable "queues" {
  description = "The stack's queue inventory: by key, each source queue, its DLQ, the functions consuming them, and optionally the alarm thresholds and consumer concurrency cap drawn as lines. The pattern modules' `queues` outputs have this shape."
  type = map(object({
    queue_name              = string
    dlq_name                = string
    consumer_function_names = optional(list(string), [])
    maximum_concurrency     = optional(number)
    alarm_thresholds = optional(object({
      depth                     = optional(number)
      oldest_message_age        = optional(number)
      growth                    = optional(number)
      message_retention_seconds = optional(number)
    }), {})
  }))

  validation {
    condition     = length(var.queues) > 0
    error_message = "queues must list at least one queue (the pattern modules' `queues` outputs, merged)."
  }

  validation {
    condition     = alltrue([for key in keys(var.queues) : can(regex("^[a-z0-9_-]+$", key))])
    error_message = "queues keys must be short lowercase labels (a-z, 0-9, - and _), e.g. \"load_leveler\"."
  }
}

variable "function_names" {
  description = "Every function of the stack, for the all-functions errors, throttles and concurrency row. Empty leaves the row out."
  type        = list(string)
  default     = []
}

variable "alarm_arns" {
  description = "Alarms whose state the dashboard shows at the top (at most 100, CloudWatch's limit for one alarm widget)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.alarm_arns) <= 100
    error_message = "alarm_arns takes at most 100 alarms (the limit of one CloudWatch alarm widget)."
  }
}

variable "period_seconds" {
  description = "Period of every graph."
  type        = number
  default     = 60

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60 (SQS metrics are published each minute)."
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
