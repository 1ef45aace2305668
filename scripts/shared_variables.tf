# The inputs every module repeats, defined once.
#
# Each module under modules/ that declares one of these variables declares it
# exactly as written here: same description, type, default and validation.
# A module may add validation blocks of its own after these (a name length that
# leaves room for its suffixes, a rule tying two of its inputs together).
#
#   python scripts/shared_variables.py           rewrite the modules' copies
#   python scripts/shared_variables.py --check   fail on any difference (make lint-inputs)
#
# This file is a template, not a module: nothing loads it.

variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
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

variable "permissions_boundary_arn" {
  description = "IAM permissions boundary of every role the module creates, for accounts that require one; null sets none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN (arn:aws:iam::<account>:policy/<name>) or null."
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
