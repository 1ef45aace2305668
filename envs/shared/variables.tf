variable "environment" {
  description = "Environment this stack is: local, dev, prod, or another short lowercase name. Tags every resource and names the stack unless name is set."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 characters of a-z, 0-9 and -, starting with a letter (e.g. dev)."
  }
}

variable "name" {
  description = "Prefix of every resource name. null uses \"sp-<environment>\". Tests set a unique one per run."
  type        = string
  default     = null

  validation {
    condition     = var.name == null || can(regex("^[a-z][a-z0-9-]{1,23}$", var.name))
    error_message = "name must be 2-24 characters of a-z, 0-9 and -, starting with a letter: it prefixes bucket, queue and function names."
  }
}

variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

variable "emulator" {
  description = "Apply to a local emulator (MiniStack or LocalStack) instead of AWS: dummy credentials and every service at aws_endpoint_url."
  type        = bool
  default     = false
}

variable "aws_endpoint_url" {
  description = "Endpoint every AWS service is sent to (an emulator). null: AWS itself, or http://127.0.0.1:4566 with emulator = true."
  type        = string
  default     = null

  validation {
    condition     = var.aws_endpoint_url == null || can(regex("^https?://", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be an http:// or https:// URL, e.g. http://127.0.0.1:4566, or null for AWS."
  }
}

variable "lambda_build_dir" {
  description = "Folder holding the zips built by `make package`. null: build/lambda in this repository."
  type        = string
  default     = null
}

variable "owner" {
  description = "Team or person answerable for the stack (the owner tag)."
  type        = string
  default     = "platform-team"
}

variable "cost_center" {
  description = "Cost center the stack is billed to (the cost-center tag)."
  type        = string
  default     = "engineering"
}

variable "tags" {
  description = "Extra tags for every resource, on top of project, environment, owner, cost-center and module."
  type        = map(string)
  default     = {}
}

variable "runbook_url" {
  description = "Runbook every alarm description and the dashboard link to: docs/runbook.md in your copy of this repository."
  type        = string
  default     = "https://github.com/serverless-patterns/serverless-patterns/blob/main/docs/runbook.md"

  validation {
    condition     = var.runbook_url == null || can(regex("^https?://", var.runbook_url))
    error_message = "runbook_url must be an http(s) URL (e.g. the docs/runbook.md page of your repository) or null."
  }
}

variable "alerts" {
  description = "Who hears about alarms: email_addresses and https_endpoints (paging services) subscribed to the stack's alert topic. Chat webhooks are in chat_webhook_urls."
  type = object({
    email_addresses              = optional(list(string), [])
    https_endpoints              = optional(list(string), [])
    https_endpoints_auto_confirm = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "chat_webhook_urls" {
  description = "Chat incoming-webhook URLs by name (Slack, Teams, Google Chat, Mattermost), each told of every alarm change. Secret: pass it through TF_VAR_chat_webhook_urls or a secrets manager, not a committed tfvars file."
  type        = map(string)
  default     = {}
  sensitive   = true
  nullable    = false
}

variable "permissions_boundary_arn" {
  description = "IAM permissions boundary for every role of the stack, for accounts that require one; null sets none."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key (in the stack's region) encrypting the stack's queues (the load leveler's and the fan-out's, and their DLQs) and topics (the job events topic; the subtask topic with fan_out.transport = \"sns\"); the alert topic keeps its own key, and a queue.kms_master_key_id in load_leveler or fan_out wins over it. Every role using a queue or topic is granted the key in its IAM policy, which counts only if the key policy delegates to IAM (the account root principal); with transport = \"sns\" the key policy must also let sns.amazonaws.com use kms:GenerateDataKey* and kms:Decrypt, scoped by aws:SourceAccount, for its deliveries into the encrypted DLQ (envs/shared/README.md has the policy). null: SSE-SQS queues and SNS's AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN, arn:aws:kms:<region>:<account>:key/<key id>, not an alias or a bare key id: the roles' IAM policies name the key, and an alias there grants nothing. `aws kms describe-key --key-id alias/<name> --query KeyMetadata.Arn` prints the ARN of an alias's key."
  }

  validation {
    condition     = var.kms_key_arn == null || !can(regex("^arn:[^:]+:kms:", var.kms_key_arn)) || try(split(":", var.kms_key_arn)[3] == var.region, false)
    error_message = "kms_key_arn is a key of ${try(split(":", var.kms_key_arn)[3], "another region")}, but the stack is in ${var.region} (region): SQS and SNS encrypt only with a key of their own region. Create or replicate the key in ${var.region} and give that key's ARN."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group."
  type        = number
  default     = 30
}

variable "tracing_mode" {
  description = "X-Ray tracing of every function: Active or PassThrough."
  type        = string
  default     = "Active"
}

variable "data_protection" {
  description = "Whether tables keep point-in-time recovery and refuse deletion, and whether the job bucket keeps object versions and refuses `terraform destroy` while it holds objects."
  type = object({
    point_in_time_recovery = optional(bool, true)
    deletion_protection    = optional(bool, true)
    bucket_versioning      = optional(bool, true)
    bucket_force_destroy   = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "create_http_api" {
  description = "Create the HTTP APIs (API Gateway v2): the load leveler's POST /requests and the fan-out job API. false on an emulator without HTTP APIs (LocalStack Community): TF_VAR_create_http_api=false, and callers invoke the functions."
  type        = bool
  default     = true
  nullable    = false
}

variable "load_leveler" {
  description = "Settings of the load_leveler module (see its README); unset ones keep the module's defaults. queue takes the dlq_monitoring settings of the request queue."
  type = object({
    downstream_write_capacity_units = optional(number)
    writes_per_second_per_consumer  = optional(number)
    batch_size                      = optional(number)
    batching_window_seconds         = optional(number)
    consumer_timeout_seconds        = optional(number)
    api_authorization_type          = optional(string, "AWS_IAM")
    queue                           = optional(any, {})
  })
  default  = {}
  nullable = false
}

variable "fan_out" {
  description = "Settings of the fan_out module (see its README); unset ones keep the module's defaults. queue takes the dlq_monitoring settings of the subtask queue."
  type = object({
    min_chunk_size_bytes       = optional(number)
    default_chunk_size_bytes   = optional(number)
    max_line_bytes             = optional(number)
    worker_timeout_seconds     = optional(number)
    worker_batch_size          = optional(number)
    worker_maximum_concurrency = optional(number)
    worker_threads             = optional(number)
    # A job's max_concurrency when its spec sets none (null: the workers' capacity; 0: jobs are sent whole).
    default_job_max_concurrency = optional(number)
    job_max_concurrency_limit   = optional(number)
    # A large job sent whole is cut into parts of this many subtasks, sent by up to max_dispatchers invocations.
    dispatch_part_subtasks     = optional(number)
    max_dispatchers            = optional(number)
    inline_result_max_bytes    = optional(number)
    job_timeout_seconds        = optional(number)
    subtasks_per_shard         = optional(number)
    parallel_shards            = optional(number)
    job_retention_days         = optional(number)
    inputs_expiration_days     = optional(number)
    results_expiration_days    = optional(number)
    partials_expiration_days   = optional(number)
    transport                  = optional(string)
    max_continuations          = optional(number)
    heartbeat_interval_seconds = optional(number)
    checkpoint_reserve_seconds = optional(number)
    queue                      = optional(any, {})
  })
  default  = {}
  nullable = false
}

variable "workloads" {
  description = "The fan-out workloads the stack runs (see modules/fan_out): name => { process, merge?, resumable?, reads?, package? }. Each env sets it in envs/<env>/workloads.auto.tfvars.json, which `make package` reads to bundle and check every package (the folder of the workload's Python package; the modules ignore it). default_workload names the one of jobs that name none."
  type = map(object({
    process   = string
    merge     = optional(string)
    resumable = optional(bool, false)
    reads     = optional(list(string))
    package   = optional(string)
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
    condition = alltrue([for workload in values(var.workloads) : workload.reads == null ? true : (
      length(workload.reads) > 0 && length(distinct(workload.reads)) == length(workload.reads) && alltrue([for kind in workload.reads : contains(["bytes", "records", "objects", "items"], kind)])
    )])
    error_message = "workloads: reads lists the kinds of input a workload understands, from \"bytes\", \"records\", \"objects\" and \"items\" (envs/<env>/workloads.auto.tfvars.json); leave it out to accept any source."
  }
}

variable "default_workload" {
  description = "The workload of jobs that name none (uploads to incoming/, first-format specs): a key of workloads."
  type        = string
  default     = "word_count"
  nullable    = false
}

variable "fan_in" {
  description = "Settings of the fan_in_tracker module (see its README); unset ones keep the module's defaults."
  type = object({
    consolidator_timeout_seconds = optional(number)
    consolidation_grace_seconds  = optional(number)
    consolidation_max_failures   = optional(number)
  })
  default  = {}
  nullable = false
}

variable "environment_variables" {
  description = "Extra environment variables of every function (e.g. POWERTOOLS_TRACE_DISABLED on an emulator without X-Ray)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "architecture" {
  description = "Instruction set of every function, x86_64 or arm64 (Graviton). `make package ARCHITECTURE=arm64` builds the zips for arm64, and `make plan/apply ARCHITECTURE=arm64` passes it here."
  type        = string
  default     = "x86_64"
  nullable    = false

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64, matching the zips in lambda_build_dir (build/lambda/ARCHITECTURE says which)."
  }
}
