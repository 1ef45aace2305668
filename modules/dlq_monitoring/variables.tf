variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 76
    error_message = "name must be at most 76 characters: it names the queue, and SQS allows 80 characters of which the \"-dlq\" suffix takes 4."
  }
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the source queue. Set it to at least 6x the consumer's timeout (the consuming modules enforce this)."
  type        = number
  default     = 30

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 0 and 43200 (12 hours)."
  }
}

variable "dlq_visibility_timeout_seconds" {
  description = "Visibility timeout of the dead-letter queue. When a function consumes the DLQ (as the fan-out DLQ handler does), set it to at least 6x that function's timeout."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.dlq_visibility_timeout_seconds >= 0 && var.dlq_visibility_timeout_seconds <= 43200
    error_message = "dlq_visibility_timeout_seconds must be between 0 and 43200 (12 hours)."
  }
}

variable "message_retention_seconds" {
  description = "How long the source queue keeps a message."
  type        = number
  default     = 345600 # 4 days

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message. Must exceed message_retention_seconds: a standard queue keeps a message's original enqueue time when it moves to the DLQ, so a shorter DLQ retention would expire it at once."
  type        = number
  default     = 1209600 # 14 days

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }

  validation {
    condition     = var.dlq_message_retention_seconds > var.message_retention_seconds
    error_message = "dlq_message_retention_seconds must be greater than message_retention_seconds: raise dlq_message_retention_seconds (at most 1209600) or lower message_retention_seconds."
  }
}

variable "max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait of the source queue."
  type        = number
  default     = 20

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20
    error_message = "receive_wait_time_seconds must be between 0 and 20."
  }
}

variable "dlq_source_topic_arns" {
  description = "SNS topics whose subscriptions' redrive policies name this DLQ: the DLQ's policy lets SNS send their undeliverable messages to it (and only theirs). With kms_master_key_id, the key's policy must also let sns.amazonaws.com use it."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.dlq_source_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", arn))])
    error_message = "dlq_source_topic_arns: each must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)."
  }
}

variable "kms_master_key_id" {
  description = "KMS key (id, ARN or alias) for SSE-KMS on both queues. null uses SQS-managed encryption (SSE-SQS), which is always on."
  type        = string
  default     = null
}

variable "kms_data_key_reuse_period_seconds" {
  description = "How long SQS reuses a data key before calling KMS again (only with kms_master_key_id)."
  type        = number
  default     = 300

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400
    error_message = "kms_data_key_reuse_period_seconds must be between 60 and 86400."
  }
}

variable "alarm_period_seconds" {
  description = "Period of every alarm's metric. SQS publishes every 60 seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0
    error_message = "alarm_period_seconds must be a multiple of 60 (SQS metrics are published each minute)."
  }
}

variable "depth_alarm_threshold" {
  description = "Alarm when more than this many messages wait in the source queue."
  type        = number
  default     = 1000

  validation {
    condition     = var.depth_alarm_threshold >= 1
    error_message = "depth_alarm_threshold must be at least 1."
  }
}

variable "depth_alarm_evaluation_periods" {
  description = "Consecutive periods above depth_alarm_threshold before the depth alarm fires (a spike that drains quickly is the point of a queue)."
  type        = number
  default     = 5

  validation {
    condition     = var.depth_alarm_evaluation_periods >= 1 && floor(var.depth_alarm_evaluation_periods) == var.depth_alarm_evaluation_periods
    error_message = "depth_alarm_evaluation_periods must be a whole number of at least 1."
  }

  validation {
    condition     = var.depth_alarm_evaluation_periods * var.alarm_period_seconds <= 86400
    error_message = "depth_alarm_evaluation_periods x alarm_period_seconds must be at most 86400 (CloudWatch evaluates at most one day): lower either."
  }
}

variable "growth_alarm_threshold" {
  description = "Alarm when the source queue gains more than this many messages per period (sent minus deleted) for growth_alarm_evaluation_periods periods in a row."
  type        = number
  default     = 500

  validation {
    condition     = var.growth_alarm_threshold >= 1
    error_message = "growth_alarm_threshold must be at least 1 message per period."
  }
}

variable "growth_alarm_evaluation_periods" {
  description = "Consecutive periods of growth above growth_alarm_threshold before the growth alarm fires."
  type        = number
  default     = 5

  validation {
    condition     = var.growth_alarm_evaluation_periods >= 1 && floor(var.growth_alarm_evaluation_periods) == var.growth_alarm_evaluation_periods
    error_message = "growth_alarm_evaluation_periods must be a whole number of at least 1."
  }

  validation {
    condition     = var.growth_alarm_evaluation_periods * var.alarm_period_seconds <= 86400
    error_message = "growth_alarm_evaluation_periods x alarm_period_seconds must be at most 86400 (CloudWatch evaluates at most one day): lower either."
  }
}

variable "age_alarm_threshold_seconds" {
  description = "Alarm when the oldest message is older than this. null derives it as age_alarm_retention_fraction x message_retention_seconds, so the alarm fires well before messages expire."
  type        = number
  default     = null

  validation {
    condition     = var.age_alarm_threshold_seconds == null || try(var.age_alarm_threshold_seconds > 0 && var.age_alarm_threshold_seconds < var.message_retention_seconds, false)
    error_message = "age_alarm_threshold_seconds must be greater than 0 and less than message_retention_seconds (an alarm at or after expiry is too late), or null to derive it."
  }
}

variable "age_alarm_retention_fraction" {
  description = "Fraction of message_retention_seconds used as the age alarm threshold when age_alarm_threshold_seconds is null."
  type        = number
  default     = 0.5

  validation {
    condition     = var.age_alarm_retention_fraction > 0 && var.age_alarm_retention_fraction < 1
    error_message = "age_alarm_retention_fraction must be between 0 and 1 (exclusive), e.g. 0.5 for half the retention period."
  }
}

variable "create_alert_topic" {
  description = "Create an encrypted SNS topic for the module's alarms. Set false and pass alert_topic_arn to use an existing one, e.g. a topic the whole stack shares."
  type        = bool
  default     = true
  nullable    = false
}

variable "alert_topic_arn" {
  description = "Existing SNS topic every alarm of the module notifies, e.g. another module's alert_topic_arn. A module that can create its own uses this only with create_alert_topic = false."
  type        = string
  default     = null

  validation {
    condition     = var.alert_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:", var.alert_topic_arn))
    error_message = "alert_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>) or null."
  }

  validation {
    condition     = var.create_alert_topic || var.alert_topic_arn != null
    error_message = "alert_topic_arn is required when create_alert_topic is false: pass an SNS topic ARN or set create_alert_topic = true."
  }
}

variable "alert_topic_kms_master_key_id" {
  description = "KMS key for the created alert topic. null creates a dedicated customer managed key that CloudWatch may use (alarms cannot publish to a topic encrypted with the AWS managed alias/aws/sns key)."
  type        = string
  default     = null
}

variable "alarm_actions_enabled" {
  description = "Whether alarms notify the alert topic on ALARM and OK."
  type        = bool
  default     = true
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
