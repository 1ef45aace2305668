variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 41
    error_message = "name must be at most 41 characters, leaving room for the suffixes of the queue, table and function names."
  }
}

variable "producer_package_path" {
  description = "Path to the producer zip built by `make package` (build/lambda/load_leveler_producer.zip)."
  type        = string

  validation {
    condition     = endswith(var.producer_package_path, ".zip")
    error_message = "producer_package_path must point to the .zip built by `make package`."
  }
}

variable "consumer_package_path" {
  description = "Path to the consumer zip built by `make package` (build/lambda/load_leveler_consumer.zip)."
  type        = string

  validation {
    condition     = endswith(var.consumer_package_path, ".zip")
    error_message = "consumer_package_path must point to the .zip built by `make package`."
  }
}

variable "runtime" {
  description = "Lambda runtime of both functions."
  type        = string
  default     = "python3.12"
  nullable    = false

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.11, python3.12 or python3.13 (the packaged dependencies target 3.12 wheels, which are pure Python or have a pure-Python fallback)."
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

variable "producer_timeout_seconds" {
  description = "Timeout of the producer function (it only validates and enqueues)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.producer_timeout_seconds >= 7 && var.producer_timeout_seconds <= 29
    error_message = "producer_timeout_seconds must be between 7 (three AWS calls of at least 2 s each, then the answer) and 29 (API Gateway's integration timeout is 30 s)."
  }
}

variable "consumer_timeout_seconds" {
  description = "Timeout of the consumer function. The queue's visibility timeout must be at least 6x this."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.consumer_timeout_seconds >= 1 && var.consumer_timeout_seconds <= 900
    error_message = "consumer_timeout_seconds must be between 1 and 900."
  }
}

variable "memory_size" {
  description = "Memory (MB) of both functions."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the queue. null derives 6 x consumer_timeout_seconds + batching_window_seconds (the AWS recommendation for SQS event sources)."
  type        = number
  default     = null

  validation {
    condition     = var.visibility_timeout_seconds == null || try(var.visibility_timeout_seconds >= 6 * var.consumer_timeout_seconds && var.visibility_timeout_seconds <= 43200, false)
    error_message = "visibility_timeout_seconds must be at least 6 x consumer_timeout_seconds (and at most 43200), so a batch whose consumer times out is not delivered twice at once: raise it, lower consumer_timeout_seconds, or set null to derive it."
  }
}

variable "batch_size" {
  description = "Records per consumer invocation."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }

  validation {
    condition     = var.batch_size <= 10 || var.batching_window_seconds >= 1
    error_message = "batch_size above 10 needs batching_window_seconds of at least 1 (an AWS rule for SQS event sources)."
  }
}

variable "batching_window_seconds" {
  description = "Maximum time the event source mapping gathers records before invoking the consumer."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 300
    error_message = "batching_window_seconds must be between 0 and 300."
  }
}

variable "downstream_write_capacity_units" {
  description = "Writes per second the downstream takes without throttling. With the created table this is its provisioned WCU (items up to 1 KB)."
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = var.downstream_write_capacity_units >= 1 && var.downstream_write_capacity_units <= 40000
    error_message = "downstream_write_capacity_units must be between 1 and 40000."
  }
}

variable "downstream_read_capacity_units" {
  description = "Provisioned RCU of the created table."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.downstream_read_capacity_units >= 1
    error_message = "downstream_read_capacity_units must be at least 1."
  }
}

variable "writes_per_second_per_consumer" {
  description = "Write capacity units per second one consumer instance is paced to (an item of up to 1 KB costs one, larger ones one per started KB). Maximum concurrency is derived as floor(downstream_write_capacity_units / writes_per_second_per_consumer), at least 2; when 2 consumers at this rate would exceed the downstream, each is paced to downstream_write_capacity_units / maximum_concurrency instead (output writes_per_second_per_consumer)."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.writes_per_second_per_consumer > 0
    error_message = "writes_per_second_per_consumer must be greater than 0."
  }
}

variable "maximum_concurrency" {
  description = "Override the derived consumer concurrency cap (2-1000). Leave null to derive it from the downstream capacity."
  type        = number
  default     = null

  validation {
    condition     = var.maximum_concurrency == null || try(var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000, false)
    error_message = "maximum_concurrency must be between 2 and 1000 (the SQS event source limits), or null to derive it."
  }
}

variable "producer_reserved_concurrency" {
  description = "Concurrency reserved for the producer (its ceiling too); -1 leaves it unreserved. API throttling (api_throttling_*) is the first limit on callers."
  type        = number
  default     = -1
  nullable    = false

  validation {
    condition     = var.producer_reserved_concurrency >= -1 && floor(var.producer_reserved_concurrency) == var.producer_reserved_concurrency
    error_message = "producer_reserved_concurrency must be a whole number: -1 (unreserved), or the executions to reserve."
  }
}

variable "consumer_reserved_concurrency" {
  description = "Concurrency reserved for the consumer; -1 leaves it unreserved. When set, it must be at least the event source mapping's maximum concurrency, or the mapping's invocations are throttled."
  type        = number
  default     = -1
  nullable    = false

  validation {
    condition     = var.consumer_reserved_concurrency >= -1 && floor(var.consumer_reserved_concurrency) == var.consumer_reserved_concurrency
    error_message = "consumer_reserved_concurrency must be a whole number: -1 (unreserved), or the executions to reserve."
  }
}

variable "idempotency_window_seconds" {
  description = "How long the producer remembers a request_id and its payload digest: the same request again within it is answered 202 without a second message, another payload 409. After it, the consumer still refuses a different payload for a stored request_id (into the DLQ)."
  type        = number
  default     = 86400
  nullable    = false

  validation {
    condition     = var.idempotency_window_seconds >= 60 && var.idempotency_window_seconds <= 2592000
    error_message = "idempotency_window_seconds must be between 60 and 2592000 (30 days)."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady requests per second the HTTP API accepts before answering 429 (stage default route settings)."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be greater than 0 (requests per second)."
  }
}

variable "api_throttling_burst_limit" {
  description = "Requests the HTTP API accepts in a burst above the steady rate before answering 429."
  type        = number
  default     = 2000
  nullable    = false

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number of at least 1."
  }
}

variable "create_table" {
  description = "Create the downstream DynamoDB table (PROVISIONED). Set false and pass table_name/table_arn to write into an existing table keyed by the string attribute request_id."
  type        = bool
  default     = true
  nullable    = false
}

variable "table_name" {
  description = "Existing downstream table (when create_table is false)."
  type        = string
  default     = null
}

variable "table_arn" {
  description = "ARN of the existing downstream table (when create_table is false)."
  type        = string
  default     = null

  validation {
    condition     = var.create_table || (var.table_arn != null && var.table_name != null)
    error_message = "table_name and table_arn are required when create_table is false."
  }
}

variable "table_point_in_time_recovery" {
  description = "Enable point-in-time recovery on the created table."
  type        = bool
  default     = true
  nullable    = false
}

variable "table_deletion_protection" {
  description = "Enable deletion protection on the created table."
  type        = bool
  default     = false
  nullable    = false
}

variable "create_http_api" {
  description = "Serve the producer through an API Gateway HTTP API (POST /requests). Set false to invoke the producer another way."
  type        = bool
  default     = true
  nullable    = false
}

variable "api_authorization_type" {
  description = "Who may call POST /requests: AWS_IAM (SigV4-signed requests from principals allowed execute-api:Invoke on api_route_arn) or NONE (anyone who knows the URL)."
  type        = string
  default     = "AWS_IAM"
  nullable    = false

  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.api_authorization_type)
    error_message = "api_authorization_type must be AWS_IAM or NONE."
  }
}

variable "queue" {
  description = "Settings passed to dlq_monitoring for the request queue (see its README): message_retention_seconds, dlq_message_retention_seconds, max_receive_count, depth_alarm_threshold, depth_alarm_evaluation_periods, age_alarm_threshold_seconds, growth_alarm_threshold, growth_alarm_evaluation_periods, kms_master_key_id. A key that is not one of these fails the plan. Defaults: retention 4 days (DLQ 14), max_receive_count 5, depth alarm at 1,000 for 5 minutes, age alarm at half the retention, growth alarm at 500 for 5 minutes."
  type        = any
  default     = {}
  nullable    = false

  validation {
    condition     = can(keys(var.queue)) && length(setsubtract(keys(var.queue), ["message_retention_seconds", "dlq_message_retention_seconds", "max_receive_count", "depth_alarm_threshold", "depth_alarm_evaluation_periods", "age_alarm_threshold_seconds", "growth_alarm_threshold", "growth_alarm_evaluation_periods", "kms_master_key_id"])) == 0
    error_message = "queue takes only message_retention_seconds, dlq_message_retention_seconds, max_receive_count, depth_alarm_threshold, depth_alarm_evaluation_periods, age_alarm_threshold_seconds, growth_alarm_threshold, growth_alarm_evaluation_periods, kms_master_key_id: ${try(join(", ", setsubtract(keys(var.queue), ["message_retention_seconds", "dlq_message_retention_seconds", "max_receive_count", "depth_alarm_threshold", "depth_alarm_evaluation_periods", "age_alarm_threshold_seconds", "growth_alarm_threshold", "growth_alarm_evaluation_periods", "kms_master_key_id"])), "it must be an object")} is not one of them (check the spelling)."
  }

  validation {
    condition     = alltrue([for key, value in try(var.queue, {}) : value == null || (key == "kms_master_key_id" ? can(tostring(value)) : can(tonumber(value)))])
    error_message = "queue settings are numbers, apart from kms_master_key_id (a KMS key ARN)."
  }

  validation {
    condition     = try(var.queue.max_receive_count, null) == null || try(tonumber(var.queue.max_receive_count) >= 5, false)
    error_message = "queue.max_receive_count must be at least 5 for a queue a Lambda function consumes: fewer sends messages to the DLQ when the function is only throttled (AWS's recommendation)."
  }

  validation {
    condition     = try(var.queue.kms_master_key_id, null) == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.queue.kms_master_key_id))
    error_message = "queue.kms_master_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): the functions' IAM policies grant that key, and an alias or key id in a policy Resource grants nothing."
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

variable "log_level" {
  description = "Powertools log level of the module's functions."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
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
