variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 41
    error_message = "name must be at most 41 characters, leaving room for the suffixes of the bucket, queue and function names."
  }
}

variable "ventilator_package_path" {
  description = "Path to build/lambda/fan_out_ventilator.zip (`make package`)."
  type        = string
}

variable "worker_package_path" {
  description = "Path to the worker zip: build/lambda/fan_out_worker.zip, bundling your workloads (make package: envs/<env>/workloads.auto.tfvars.json names their packages)."
  type        = string
}

variable "dlq_handler_package_path" {
  description = "Path to build/lambda/fan_out_dlq_handler.zip (`make package`)."
  type        = string
}

variable "api_package_path" {
  description = "Path to build/lambda/fan_out_api.zip (`make package`): the job API's function, with create_job_api."
  type        = string
  default     = null

  validation {
    condition     = !var.create_job_api || var.api_package_path != null
    error_message = "api_package_path is required with create_job_api = true: pass build/lambda/fan_out_api.zip from `make package`."
  }
}

variable "create_job_api" {
  description = "Create the job API: an HTTP API with POST /jobs (start a job from its spec), GET /jobs/{job_id} (status), DELETE /jobs/{job_id} (cancel) and PATCH /jobs/{job_id} (a running job's max_concurrency), so callers need neither lambda:InvokeFunction nor the function's name."
  type        = bool
  default     = false
  nullable    = false
}

variable "job_api_authorization" {
  description = "Who may call the job API: AWS_IAM (SigV4-signed requests of principals allowed execute-api:Invoke on job_api_route_arns), JWT (tokens of job_api_jwt's issuer) or NONE (anyone who knows the URL)."
  type        = string
  default     = "AWS_IAM"
  nullable    = false

  validation {
    condition     = contains(["AWS_IAM", "JWT", "NONE"], var.job_api_authorization)
    error_message = "job_api_authorization must be AWS_IAM, JWT or NONE."
  }
}

variable "job_api_jwt" {
  description = "The JWT authorizer of the job API (with job_api_authorization = \"JWT\"): the tokens' issuer URL (e.g. a Cognito user pool's https://cognito-idp.<region>.amazonaws.com/<pool id>) and the audiences (client ids) it accepts."
  type = object({
    issuer   = string
    audience = list(string)
  })
  default = null

  validation {
    condition     = var.job_api_authorization != "JWT" || try(startswith(var.job_api_jwt.issuer, "https://") && length(var.job_api_jwt.audience) > 0, false)
    error_message = "job_api_jwt needs an https:// issuer and at least one audience when job_api_authorization is JWT."
  }
}

variable "job_api_throttling_rate_limit" {
  description = "Requests per second the job API takes before answering 429 (API Gateway throttling, every route)."
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = var.job_api_throttling_rate_limit > 0
    error_message = "job_api_throttling_rate_limit must be greater than 0."
  }
}

variable "job_api_throttling_burst_limit" {
  description = "Requests the job API takes at once above its rate before answering 429."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.job_api_throttling_burst_limit >= 1 && floor(var.job_api_throttling_burst_limit) == var.job_api_throttling_burst_limit
    error_message = "job_api_throttling_burst_limit must be a whole number of at least 1."
  }
}

variable "tracker_table_name" {
  description = "Tracker table of the fan_in_tracker module."
  type        = string
}

variable "tracker_table_arn" {
  description = "ARN of the tracker table."
  type        = string
}

variable "consolidator_function_name" {
  description = "Consolidator of the fan_in_tracker module, started by the completion that finishes a job."
  type        = string
}

variable "consolidator_function_arn" {
  description = "ARN of the consolidator."
  type        = string
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

variable "default_workload" {
  description = "The workload of jobs that name none (S3 uploads to incoming/, first-format specs): a key of workloads."
  type        = string
  default     = "word_count"
  nullable    = false

  validation {
    condition     = contains(keys(var.workloads), var.default_workload)
    error_message = "default_workload must be one of the keys of workloads."
  }
}

variable "workload_manifest_path" {
  description = "The workloads.json `make package` writes beside the zips (build/lambda/workloads.json): the workloads it bundled and imported from the worker zip. When set, plan refuses any workload of workloads it does not list with the same process, merge and resumable, so zips without a workload's code are never deployed. null: no check."
  type        = string
  default     = null
}

variable "max_redrives_per_job" {
  description = "How many times the failed and skipped subtasks of one job may be run again (CLI job-redrive), within partials_expiration_days of its end."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.max_redrives_per_job >= 1 && var.max_redrives_per_job <= 1000 && floor(var.max_redrives_per_job) == var.max_redrives_per_job
    error_message = "max_redrives_per_job must be a whole number from 1 to 1000."
  }
}

variable "default_chunk_size_bytes" {
  description = "Chunk size of jobs started by an upload to incoming/ (submitted specs may set their own within the limits)."
  type        = number
  default     = 1048576
  nullable    = false

  validation {
    condition     = var.default_chunk_size_bytes >= var.min_chunk_size_bytes && var.default_chunk_size_bytes <= var.max_chunk_size_bytes
    error_message = "default_chunk_size_bytes must lie between min_chunk_size_bytes and max_chunk_size_bytes."
  }
}

variable "min_chunk_size_bytes" {
  description = "Smallest chunk a job may ask for."
  type        = number
  default     = 1024
  nullable    = false

  validation {
    condition     = var.min_chunk_size_bytes >= 1
    error_message = "min_chunk_size_bytes must be at least 1."
  }
}

variable "max_chunk_size_bytes" {
  description = "Largest chunk a job may ask for (a worker holds one chunk in memory)."
  type        = number
  default     = 134217728
  nullable    = false

  validation {
    condition     = var.max_chunk_size_bytes >= var.min_chunk_size_bytes
    error_message = "max_chunk_size_bytes must be at least min_chunk_size_bytes."
  }
}

variable "max_subtasks" {
  description = "Most subtasks one job may have; larger jobs are rejected with the chunk size that would fit."
  type        = number
  default     = 100000
  nullable    = false

  validation {
    condition     = var.max_subtasks >= 1 && var.max_subtasks <= 10000000
    error_message = "max_subtasks must be between 1 and 10000000."
  }
}

variable "default_job_max_concurrency" {
  description = "A job's max_concurrency when its spec sets none: at most this many of its subtasks in flight at once (windowed dispatch: each completion sends the next), so jobs share the workers and a small job is not queued behind a large one's backlog. null: the workers' capacity (worker_maximum_concurrency x worker_batch_size; x 1 with sns), so one job alone keeps every worker busy; lower shares them more evenly. 0 dispatches such jobs whole, as before windowed dispatch."
  type        = number
  default     = null
  nullable    = true

  validation {
    condition     = var.default_job_max_concurrency == null || (try(floor(var.default_job_max_concurrency) == var.default_job_max_concurrency, false) && try(var.default_job_max_concurrency >= 0, false))
    error_message = "default_job_max_concurrency must be a whole number >= 1 (at most job_max_concurrency_limit), 0 to dispatch jobs whole, or null for the workers' capacity."
  }

  validation {
    condition     = var.default_job_max_concurrency == null || try(var.default_job_max_concurrency <= var.job_max_concurrency_limit, true)
    error_message = "default_job_max_concurrency must be at most job_max_concurrency_limit: lower it, or raise the limit."
  }
}

variable "job_max_concurrency_limit" {
  description = "The most a job spec's max_concurrency may ask (a higher one is refused naming this variable). Keep it at or below what the workers and their downstream can take: the worker's maximum concurrency times its batch size."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = floor(var.job_max_concurrency_limit) == var.job_max_concurrency_limit && var.job_max_concurrency_limit >= 1 && var.job_max_concurrency_limit <= 10000
    error_message = "job_max_concurrency_limit must be a whole number from 1 to 10000."
  }
}

variable "max_line_bytes" {
  description = "Longest line a worker reads past its chunk to finish; a longer line fails its subtask."
  type        = number
  default     = 65536
  nullable    = false

  validation {
    condition     = var.max_line_bytes >= 1 && var.max_line_bytes <= 16777216
    error_message = "max_line_bytes must be between 1 and 16777216."
  }
}

variable "worker_threads" {
  description = "Records of one batch a worker runs at once, each on a thread. A subtask mostly waits on AWS calls, so a batch takes about as long as its slowest record; the workload's process must be thread-safe. 1 runs them one after another."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.worker_threads >= 1 && var.worker_threads <= 100 && floor(var.worker_threads) == var.worker_threads
    error_message = "worker_threads must be a whole number between 1 and 100."
  }
}

variable "inline_result_max_bytes" {
  description = "Largest subtask result (its JSON, with its item) kept in the subtask's tracker item instead of an S3 object. Up to about 4 KiB the tracker's extra write units cost less than an S3 PUT and GET; 0 sends every result to S3."
  type        = number
  default     = 4096
  nullable    = false

  validation {
    condition     = var.inline_result_max_bytes >= 0 && var.inline_result_max_bytes <= 65536 && floor(var.inline_result_max_bytes) == var.inline_result_max_bytes
    error_message = "inline_result_max_bytes must be a whole number between 0 and 65536: a batch's results go into one transaction of at most 4 MB, and an item holds at most 400 KB."
  }
}

variable "subtasks_per_shard" {
  description = "Most subtasks per tracker shard (unless a job would need more than 1,000 shards). Each shard has a partition key of its own and is reduced into one result as soon as it is full."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = var.subtasks_per_shard >= 1 && var.subtasks_per_shard <= 100000
    error_message = "subtasks_per_shard must be between 1 and 100000 (a shard's reduction reads that many partial results)."
  }
}

variable "parallel_shards" {
  description = "Most tracker shards a job writes to at once: its subtasks go, in order, through rounds of that many shards, so concurrent completions spread over that many partitions while each round's shards fill and are reduced during the job. A job gets no more than ceil(subtasks / 250), since one shard absorbs 250 completions/s: a job of up to 250 subtasks writes to one shard (one reduction, with subtasks_per_shard of 250 or more), one of 1,000 to 4 at most. null derives ceil(worker_maximum_concurrency / 5): about five workers per shard. The per-job ceiling is 250 completions/s per parallel shard (modules/fan_in_tracker/README.md)."
  type        = number
  default     = null

  validation {
    condition     = var.parallel_shards == null || try(var.parallel_shards >= 1 && var.parallel_shards <= 1000, false)
    error_message = "parallel_shards must be between 1 and 1000, or null to derive it from worker_maximum_concurrency."
  }
}

variable "job_retention_days" {
  description = "Days the tracker keeps a job's items after its deadline; they then expire through the table's TTL (attribute expires_at)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.job_retention_days >= 1 && var.job_retention_days <= 3650
    error_message = "job_retention_days must be between 1 and 3650."
  }
}

variable "job_timeout_seconds" {
  description = "A job still running this long after submission is marked TIMED_OUT by the sweeper and consolidated on what exists."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.job_timeout_seconds >= 60
    error_message = "job_timeout_seconds must be at least 60."
  }
}

variable "ventilator_timeout_seconds" {
  description = "Timeout of the ventilator; a job it cannot dispatch in time continues in a new invocation."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.ventilator_timeout_seconds >= 30 && var.ventilator_timeout_seconds <= 900
    error_message = "ventilator_timeout_seconds must be between 30 and 900 (15 s are kept back to hand over)."
  }
}

variable "worker_timeout_seconds" {
  description = "Timeout of a worker invocation (one batch of subtasks)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.worker_timeout_seconds >= 1 && var.worker_timeout_seconds <= 900
    error_message = "worker_timeout_seconds must be between 1 and 900."
  }
}

variable "transport" {
  description = "How subtasks reach the workers. \"sqs\": the ventilator sends them to the subtask queue, which an event source mapping drains (ramping up by 300 concurrent workers a minute, up to worker_maximum_concurrency). \"sns\": the ventilator publishes them to a topic whose subscription invokes a worker per subtask asynchronously, all at once up to worker_maximum_concurrency (reserved for the worker); failed invocations are retried twice, then go to the same DLQ. See the README's \"Choosing a transport\"."
  type        = string
  default     = "sqs"
  nullable    = false

  validation {
    condition     = contains(["sqs", "sns"], var.transport)
    error_message = "transport must be \"sqs\" (the default: a queue drained by an event source mapping) or \"sns\" (a topic that pushes each subtask to a worker)."
  }

  validation {
    condition     = var.transport == "sqs" || !anytrue([for workload in values(var.workloads) : workload.resumable])
    error_message = "transport: resumable workloads need \"sqs\", whose message carries a chain of invocations: set transport = \"sqs\", or drop resumable from the workloads."
  }
}

variable "fair_queues" {
  description = "Whether each subtask carries its job id as MessageGroupId (SUBTASK_MESSAGE_GROUPS = \"job\", else \"none\"). On AWS that makes the standard subtask queue an SQS fair queue: while one job holds a disproportionate share of the messages in flight (AWS: over 10% of them and at least 30), SQS delivers the other jobs' subtasks first; the queue and the worker stay as they are. With transport = \"sns\" it has no effect: a standard topic passes the group on only to SQS subscribers, and the worker subscribes as a function. MiniStack, moto and LocalStack (4.7 and later) accept the group but deliver in their usual order. Adds no resource; whether SQS prices grouped messages differently is not verified here (see the SQS pricing page)."
  type        = bool
  default     = true
  nullable    = false
}

variable "max_continuations" {
  description = "Most times a subtask of a resumable workload may continue in a new invocation (a chain of at most 1 + max_continuations invocations); one that asks for more fails with a reason naming this input. Non-resumable workloads never continue."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.max_continuations >= 0 && var.max_continuations <= 1000 && floor(var.max_continuations) == var.max_continuations
    error_message = "max_continuations must be a whole number between 0 and 1000."
  }

  validation {
    condition     = !anytrue([for workload in values(var.workloads) : workload.resumable]) || (1 + var.max_continuations) * var.worker_timeout_seconds <= min(43200, var.job_timeout_seconds)
    error_message = "max_continuations: a whole chain, (1 + max_continuations) x worker_timeout_seconds, must fit in job_timeout_seconds and in the 12 hours (43,200 s) SQS keeps one receive of a message in flight: lower max_continuations or worker_timeout_seconds, or raise job_timeout_seconds."
  }
}

variable "heartbeat_interval_seconds" {
  description = "While a resumable workload runs, its message is kept invisible for 3 x this interval, renewed every interval (a heartbeat). A chain that dies is resumed from its last checkpoint once that lease runs out."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.heartbeat_interval_seconds >= 1 && floor(var.heartbeat_interval_seconds) == var.heartbeat_interval_seconds && var.heartbeat_interval_seconds < var.worker_timeout_seconds
    error_message = "heartbeat_interval_seconds must be a whole number of seconds, at least 1 and less than worker_timeout_seconds, so that a running invocation renews its message's lease: lower it, or raise worker_timeout_seconds."
  }
}

variable "checkpoint_reserve_seconds" {
  description = "Seconds of each worker invocation kept back from a resumable workload (its invocation.remaining_seconds() leaves them out) to save its checkpoint and hand over to the next invocation."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.checkpoint_reserve_seconds >= 1 && var.checkpoint_reserve_seconds < var.worker_timeout_seconds
    error_message = "checkpoint_reserve_seconds must be at least 1 and less than worker_timeout_seconds, or a resumable workload has no time to work: lower it, or raise worker_timeout_seconds."
  }
}

variable "dispatch_part_subtasks" {
  description = "A job sent whole (not windowed) of more subtasks than this is cut into parts, each sent by its own ventilator invocation side by side: one ventilator sends about 5,000 subtasks a second (bound by its CPU), so a job of 1,000,000 takes about 3 minutes in one and a tenth of that in ten. Parts are registered with the job before anything is sent, and each is sent under one invocation's claim at a time."
  type        = number
  default     = 100000
  nullable    = false

  validation {
    condition     = floor(var.dispatch_part_subtasks) == var.dispatch_part_subtasks && var.dispatch_part_subtasks >= 1000
    error_message = "dispatch_part_subtasks must be a whole number of at least 1000 (smaller parts cost an invocation each and save less than a second)."
  }
}

variable "max_dispatchers" {
  description = "The most ventilator invocations that send one job's parts side by side (see dispatch_part_subtasks). Each counts against the account's Lambda concurrency while it sends; 1 sends every job in one invocation at a time."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = floor(var.max_dispatchers) == var.max_dispatchers && var.max_dispatchers >= 1 && var.max_dispatchers <= 100
    error_message = "max_dispatchers must be a whole number from 1 to 100."
  }
}

variable "ventilator_memory_size" {
  description = "Memory (MB) of the ventilator. Lambda gives a function a full vCPU at 1,769 MB, and the ventilator's parallel senders are bound by CPU: at 512 MB it dispatches about a third as fast. It runs once per job (and per hand-over), so the memory costs little."
  type        = number
  default     = 1769
  nullable    = false

  validation {
    condition     = var.ventilator_memory_size >= 128 && var.ventilator_memory_size <= 10240
    error_message = "ventilator_memory_size must be between 128 and 10240 MB."
  }
}

variable "worker_memory_size" {
  description = "Memory (MB) of a worker."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.worker_memory_size >= 128 && var.worker_memory_size <= 10240
    error_message = "worker_memory_size must be between 128 and 10240 MB."
  }
}

variable "worker_maximum_concurrency" {
  description = "Most workers running at once (the subtask queue's event source mapping cap)."
  type        = number
  default     = 50
  nullable    = false

  validation {
    condition     = var.worker_maximum_concurrency >= 2 && var.worker_maximum_concurrency <= 1000
    error_message = "worker_maximum_concurrency must be between 2 and 1000 (the SQS event source limits)."
  }
}

variable "worker_batch_size" {
  description = "Subtasks per worker invocation."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.worker_batch_size >= 1 && var.worker_batch_size <= 10
    error_message = "worker_batch_size must be between 1 and 10."
  }
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the subtask queue. null derives 6 x worker_timeout_seconds."
  type        = number
  default     = null

  validation {
    condition     = var.visibility_timeout_seconds == null || try(var.visibility_timeout_seconds >= 6 * var.worker_timeout_seconds && var.visibility_timeout_seconds <= 43200, false)
    error_message = "visibility_timeout_seconds must be at least 6 x worker_timeout_seconds (and at most 43200): raise it, lower worker_timeout_seconds, or set null to derive it."
  }
}

variable "queue" {
  description = "Settings passed to dlq_monitoring for the subtask queue (see its README): message_retention_seconds, dlq_message_retention_seconds, max_receive_count, depth_alarm_threshold, depth_alarm_evaluation_periods, age_alarm_threshold_seconds, growth_alarm_threshold, growth_alarm_evaluation_periods, kms_master_key_id. A key that is not one of these fails the plan. Defaults as load_leveler's, except the depth alarm (100,000 for 15 minutes: a job fills the queue by design) and the age alarm (job_timeout_seconds: a subtask waiting that long makes its job time out)."
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

variable "additional_input_bucket_arns" {
  description = "Other buckets job inputs may be read from, any key (the job bucket is always allowed, under inputs/ and incoming/)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.additional_input_bucket_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", arn))])
    error_message = "additional_input_bucket_arns must hold bucket ARNs such as arn:aws:s3:::my-bucket (no key, no /*)."
  }
}

variable "failed_subtasks_alarm_threshold" {
  description = "Alarm when more subtasks than this fail for good in a minute (0: any)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.failed_subtasks_alarm_threshold >= 0
    error_message = "failed_subtasks_alarm_threshold must be 0 or more."
  }
}

variable "quarantine_after_receives" {
  description = "Receives after which the DLQ handler gives up recording a dead subtask message and quarantines it (kept under quarantine/ in the job bucket, alarmed). Messages that can never be recorded are quarantined at once."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.quarantine_after_receives >= 1 && var.quarantine_after_receives <= 100 && floor(var.quarantine_after_receives) == var.quarantine_after_receives
    error_message = "quarantine_after_receives must be a whole number between 1 and 100."
  }
}

variable "quarantine_expiration_days" {
  description = "Days after which quarantined DLQ messages (quarantine/ in the job bucket) are deleted."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.quarantine_expiration_days >= 1 && floor(var.quarantine_expiration_days) == var.quarantine_expiration_days
    error_message = "quarantine_expiration_days must be a whole number of days, at least 1."
  }
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the job bucket with its objects (for throwaway environments)."
  type        = bool
  default     = false
  nullable    = false
}

variable "bucket_versioning" {
  description = "Keep previous versions of objects in the job bucket."
  type        = bool
  default     = true
  nullable    = false
}

variable "partials_expiration_days" {
  description = "Days after which intermediate results (partial results under partials/, shard and staged results under reductions/) are deleted; a job must finish within them."
  type        = number
  default     = 14
  nullable    = false

  validation {
    condition     = var.partials_expiration_days >= 1
    error_message = "partials_expiration_days must be at least 1."
  }
}

variable "inputs_expiration_days" {
  description = "Days after which job inputs (objects under inputs/ and incoming/) are deleted. null keeps them."
  type        = number
  default     = null

  validation {
    condition     = var.inputs_expiration_days == null || try(var.inputs_expiration_days >= 1, false)
    error_message = "inputs_expiration_days must be at least 1, or null to keep inputs."
  }
}

variable "results_expiration_days" {
  description = "Days after which consolidated results (objects under results/) are deleted. null keeps them."
  type        = number
  default     = null

  validation {
    condition     = var.results_expiration_days == null || try(var.results_expiration_days >= 1, false)
    error_message = "results_expiration_days must be at least 1, or null to keep results."
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
