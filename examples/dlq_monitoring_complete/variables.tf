variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Your service: prefixes every queue, the topic and the dashboard."
  type        = string
  default     = "billing"
}

variable "queues" {
  description = "The service's queues, by key, with what their consumers need."
  type = map(object({
    consumer_timeout_seconds = number
    consumer_function_names  = optional(list(string), [])
    retention_days           = optional(number, 4)
    max_receive_count        = optional(number, 5)
    depth_alarm_threshold    = optional(number, 1000)
  }))
  default = {
    invoices = {
      consumer_timeout_seconds = 30
      consumer_function_names  = ["billing-invoice-writer"]
    }
    refunds = {
      consumer_timeout_seconds = 120
      consumer_function_names  = ["billing-refund-processor"]
      retention_days           = 7
      max_receive_count        = 10
      depth_alarm_threshold    = 100
    }
  }

  validation {
    condition     = alltrue([for queue in values(var.queues) : queue.consumer_timeout_seconds >= 1 && queue.consumer_timeout_seconds <= 900])
    error_message = "queues: consumer_timeout_seconds must be 1-900, a Lambda function's timeout (the queue's visibility is six times it)."
  }
}

variable "alert_email_addresses" {
  description = "Who gets the alarms (each confirms the subscription once)."
  type        = list(string)
  default     = []
}

variable "alert_https_endpoints" {
  description = "HTTPS endpoints of an incident tool that take SNS notifications."
  type        = list(string)
  default     = []
}

variable "runbook_url" {
  description = "Your copy of docs/runbook.md, linked from every alarm and the dashboard."
  type        = string
  default     = "https://github.com/serverless-patterns/serverless-patterns/blob/main/docs/runbook.md"
}

variable "tags" {
  description = "Tags of every resource (the provider's default_tags)."
  type        = map(string)
  default = {
    project = "dlq-monitoring-complete"
    owner   = "billing-team"
  }
}
