variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 41
    error_message = "name must be at most 41 characters, leaving room for the suffixes of the table, bucket and function names."
  }
}

variable "consolidator_package_path" {
  description = "Path to build/lambda/fan_in_consolidator.zip (`make package`)."
  type        = string
}

variable "sweeper_package_path" {
  description = "Path to build/lambda/fan_in_sweeper.zip (`make package`)."
  type        = string
}

variable "job_bucket_name" {
  description = "Bucket holding the partial results (partials/) and final results (results/): the fan_out module's job bucket."
  type        = string
}

variable "job_bucket_arn" {
  description = "ARN of job_bucket_name."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::", var.job_bucket_arn))
    error_message = "job_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::<bucket>)."
  }
}

variable "workloads" {
  description = "The workloads this deployment runs, by name: each a \"package.module:function\" process function (task: SubtaskInput -> result) and, optionally, a merge function (results -> result); resumable = true marks a process (task, invocation) -> result | Checkpoint that may take more than one invocation per subtask (see the fan_out README, Long-running subtasks). reads lists the kinds of input process understands (\"bytes\": lines and bytes sources, task.data; \"records\": jsonl and csv, task.items; \"objects\"; \"items\"), and a job whose source is of another kind is refused; null: any source. Pass fan_out and fan_in_tracker the same map: workers run each job's process, the consolidator its merge, and fan_out's default_workload names the one of jobs that name none. Bundle their packages into the worker and consolidator zips with `make package` (this repository: envs/<env>/workloads.auto.tfvars.json names them)."
  type = map(object({
    process   = string
    merge     = optional(string)
    resumable = optional(bool, false)
    reads     = optional(list(string))
  }))
  default = {
    word_count = {
      process = "serverless_patterns.workloads.word_count:process"
      merge   = "serverless_patterns.workloads.word_count:merge_counts"
      reads   = ["bytes"]
    }
  }
  nullable = false

  validation {
    condition     = length(var.workloads) > 0 && alltrue([for name in keys(var.workloads) : can(regex("^[A-Za-z0-9_-]{1,64}$", name))])
    error_message = "workloads needs at least one entry, each named with 1-64 characters from A-Z a-z 0-9 _ -."
  }

  validation {
    condition = alltrue(flatten([for workload in values(var.workloads) : [
      for function in compact([workload.process, workload.merge]) : can(regex("^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$", function))
    ]]))
    error_message = "workloads: every process and merge must look like \"package.module:function\"."
  }

  validation {
    condition = alltrue([for workload in values(var.workloads) : workload.reads == null ? true : (
      length(workload.reads) > 0 && length(distinct(workload.reads)) == length(workload.reads) && alltrue([for kind in workload.reads : contains(["bytes", "records", "objects", "items"], kind)])
    )])
    error_message = "workloads: reads lists each kind of input a workload understands once, from \"bytes\" (lines, bytes sources), \"records\" (jsonl, csv), \"objects\" and \"items\"; leave it out (null) to accept any source."
  }
}

variable "consolidator_timeout_seconds" {
  description = "Timeout of the consolidator (one invocation reduces one shard, or merges one result per shard)."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.consolidator_timeout_seconds >= 10 && var.consolidator_timeout_seconds <= 900
    error_message = "consolidator_timeout_seconds must be between 10 and 900."
  }
}

variable "consolidator_memory_size" {
  description = "Memory (MB) of the consolidator."
  type        = number
  default     = 1024
  nullable    = false

  validation {
    condition     = var.consolidator_memory_size >= 128 && var.consolidator_memory_size <= 10240
    error_message = "consolidator_memory_size must be between 128 and 10240 MB."
  }
}

variable "sweep_schedule_expression" {
  description = "How often the sweeper looks for overdue jobs and lost consolidations."
  type        = string
  default     = "rate(1 minute)"
  nullable    = false

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.sweep_schedule_expression))
    error_message = "sweep_schedule_expression must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "consolidation_grace_seconds" {
  description = "How long after its last attempt a shard waiting for its reduction, or a job waiting for its final merge, is started again by the sweeper."
  type        = number
  default     = 900
  nullable    = false

  validation {
    condition     = var.consolidation_grace_seconds >= 60
    error_message = "consolidation_grace_seconds must be at least 60."
  }

  validation {
    condition     = var.consolidation_grace_seconds > var.consolidator_timeout_seconds
    error_message = "consolidation_grace_seconds must exceed consolidator_timeout_seconds, or a running consolidation would be started again."
  }
}

variable "consolidation_max_failures" {
  description = "A job's failure budget: failed consolidation runs (its shard reductions and its final merge together, timeouts and out-of-memory included) before the job ends FAILED with the ConsolidationsAbandoned alarm. It does not grow with the number of shards; each failed run is retried once, by the sweeper (Lambda does not retry the consolidator)."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.consolidation_max_failures >= 1 && var.consolidation_max_failures <= 100 && floor(var.consolidation_max_failures) == var.consolidation_max_failures
    error_message = "consolidation_max_failures must be a whole number between 1 and 100."
  }
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery on the tracker table."
  type        = bool
  default     = true
  nullable    = false
}

variable "deletion_protection" {
  description = "Enable deletion protection on the tracker table."
  type        = bool
  default     = false
  nullable    = false
}

variable "job_events_kms_master_key_id" {
  description = "KMS key encrypting the job-finished topic: alias/aws/sns (AWS's key), or the ARN of your own key, which the consolidator's policy then grants."
  type        = string
  default     = "alias/aws/sns"
  nullable    = false

  validation {
    condition     = var.job_events_kms_master_key_id == "alias/aws/sns" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.job_events_kms_master_key_id))
    error_message = "job_events_kms_master_key_id must be alias/aws/sns or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): the consolidator's IAM policy must name the key, and an alias there grants nothing."
  }
}

variable "keep_failed_async_invocations" {
  description = "Keep consolidator invocations that failed every attempt in async_failure_destination_arn (and alarm on dropped ones). false lets Lambda drop them; the sweeper still retries the consolidation."
  type        = bool
  default     = false
  nullable    = false
}

variable "async_failure_destination_arn" {
  description = "SQS queue or SNS topic for keep_failed_async_invocations: fan_out's failed_invocations_queue_arn."
  type        = string
  default     = null
}

variable "create_function_alarms" {
  description = "Create Errors and Throttles alarms for the consolidator and the sweeper, and the ConsolidationsAbandoned alarm, notifying alert_topic_arn."
  type        = bool
  default     = false
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
    condition     = !var.create_function_alarms || var.alert_topic_arn != null
    error_message = "alert_topic_arn is required when create_function_alarms is true: pass e.g. module.fan_out.alert_topic_arn."
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
