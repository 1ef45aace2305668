data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  # The settings in force: the given ones over the module's defaults.
  queue = merge({
    message_retention_seconds       = 345600
    dlq_message_retention_seconds   = 1209600
    max_receive_count               = 5
    depth_alarm_threshold           = 100000
    depth_alarm_evaluation_periods  = 15
    age_alarm_threshold_seconds     = null
    growth_alarm_threshold          = 500
    growth_alarm_evaluation_periods = 5
    kms_master_key_id               = null
  }, { for key, value in var.queue : key => value if value != null })

  ventilator_name = "${var.name}-ventilator"
  # Built rather than referenced: the ventilator may invoke itself to hand a
  # large job over, and its policy cannot depend on the function it grants.
  ventilator_arn = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${local.ventilator_name}"

  # Inputs are read only where they are put: inputs/ (make submit), incoming/ (S3-started jobs), or your own buckets.
  input_object_arns = concat(
    ["${aws_s3_bucket.jobs.arn}/inputs/*", "${aws_s3_bucket.jobs.arn}/${local.incoming_prefix}*"],
    [for arn in var.additional_input_bucket_arns : "${arn}/*"],
  )
  input_bucket_arns = concat([aws_s3_bucket.jobs.arn], var.additional_input_bucket_arns)
  incoming_prefix   = "incoming/"

  environment = merge({
    POWERTOOLS_METRICS_NAMESPACE = "ServerlessPatterns/FanOut"
    POWERTOOLS_LOG_LEVEL         = var.log_level
    TRACKER_TABLE                = var.tracker_table_name
    JOB_BUCKET                   = aws_s3_bucket.jobs.bucket
  }, var.environment_variables)

  # What a job spec is checked against, by the ventilator and by the job API alike.
  spec_environment = {
    DEFAULT_CHUNK_SIZE_BYTES = tostring(var.default_chunk_size_bytes)
    MIN_CHUNK_SIZE_BYTES     = tostring(var.min_chunk_size_bytes)
    MAX_CHUNK_SIZE_BYTES     = tostring(var.max_chunk_size_bytes)
    MAX_SUBTASKS             = tostring(var.max_subtasks)
    WORKLOADS                = jsonencode(var.workloads)
    DEFAULT_WORKLOAD         = var.default_workload
    # 0: a job that sets no max_concurrency is dispatched whole.
    DEFAULT_JOB_MAX_CONCURRENCY = tostring(local.default_job_max_concurrency)
    JOB_MAX_CONCURRENCY_LIMIT   = tostring(var.job_max_concurrency_limit)
  }

  # Where subtasks go: what the ventilator, and a windowed job's completions, send to.
  subtask_destination_environment = merge(
    { SUBTASK_QUEUE_URL = module.queue.queue_url },
    local.push ? { SUBTASK_TOPIC_ARN = aws_sns_topic.subtasks[0].arn } : {},
  )

  queue_kms_statements = local.queue.kms_master_key_id == null ? [] : [local.queue.kms_master_key_id]

  # transport = "sns": subtasks are pushed by a topic rather than drained from the queue.
  push = var.transport == "sns"
  # A resumable workload's subtasks may run over chains of worker invocations.
  chains = anytrue([for workload in values(var.workloads) : workload.resumable])

  dlq_handler_timeout_seconds = 30
  quarantine_prefix           = "quarantine/"
  plans_prefix                = "plans/"
  parallel_shards             = coalesce(var.parallel_shards, ceil(var.worker_maximum_concurrency / 5))
  # The workers' capacity: what one job alone needs in flight to keep every worker busy.
  default_job_max_concurrency = coalesce(var.default_job_max_concurrency, min(var.job_max_concurrency_limit, var.worker_maximum_concurrency * (local.push ? 1 : var.worker_batch_size)))
  # Built from the name, not read from the function: its policy would otherwise depend on itself.
  worker_function_arn = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${var.name}-worker"

  # Expiring prefixes of the job bucket: intermediate results always, inputs and results when asked.
  expiring_prefixes = merge(
    { "partials/" = var.partials_expiration_days, "reductions/" = var.partials_expiration_days, "checkpoints/" = var.partials_expiration_days },
    # Plans (manifests of listed objects, counted records, inline items) are read again by a redrive.
    { (local.plans_prefix) = var.job_retention_days },
    { (local.quarantine_prefix) = var.quarantine_expiration_days },
    var.inputs_expiration_days == null ? {} : { "inputs/" = var.inputs_expiration_days, "incoming/" = var.inputs_expiration_days },
    var.results_expiration_days == null ? {} : { "results/" = var.results_expiration_days },
  )
}

################################################################################
# Job bucket: inputs (incoming/ starts a job), partial and final results
################################################################################

resource "aws_s3_bucket" "jobs" {
  bucket_prefix = "${var.name}-jobs-"
  force_destroy = var.bucket_force_destroy
  tags          = var.tags
}

# ACLs off: every object belongs to the bucket's account, whoever wrote it.
resource "aws_s3_bucket_ownership_controls" "jobs" {
  bucket = aws_s3_bucket.jobs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "jobs" {
  bucket                  = aws_s3_bucket.jobs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "jobs" {
  bucket = aws_s3_bucket.jobs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "jobs" {
  bucket = aws_s3_bucket.jobs.id

  versioning_configuration {
    status = var.bucket_versioning ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "jobs" {
  bucket = aws_s3_bucket.jobs.id

  dynamic "rule" {
    for_each = local.expiring_prefixes
    content {
      id     = "expire-${trimsuffix(rule.key, "/")}"
      status = "Enabled"

      filter {
        prefix = rule.key
      }

      expiration {
        days = rule.value
      }

      noncurrent_version_expiration {
        noncurrent_days = min(rule.value, 30)
      }
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

module "jobs_bucket_policy" {
  source = "../deny_insecure_transport"

  actions   = ["s3:*"]
  resources = [aws_s3_bucket.jobs.arn, "${aws_s3_bucket.jobs.arn}/*"]
}

resource "aws_s3_bucket_policy" "jobs" {
  bucket = aws_s3_bucket.jobs.id
  policy = module.jobs_bucket_policy.json

  depends_on = [aws_s3_bucket_public_access_block.jobs]
}

resource "aws_lambda_permission" "incoming" {
  statement_id   = "AllowJobBucketUploads"
  action         = "lambda:InvokeFunction"
  function_name  = module.ventilator.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.jobs.arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "incoming" {
  bucket = aws_s3_bucket.jobs.id

  lambda_function {
    lambda_function_arn = module.ventilator.function_arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = local.incoming_prefix
  }

  depends_on = [aws_lambda_permission.incoming]
}

################################################################################
# Subtask queue, its DLQ and alarms
################################################################################

module "queue" {
  source = "../dlq_monitoring"

  dlq_source_topic_arns = local.push ? [local.subtask_topic_arn] : []

  name                           = "${var.name}-subtasks"
  visibility_timeout_seconds     = coalesce(var.visibility_timeout_seconds, 6 * var.worker_timeout_seconds)
  dlq_visibility_timeout_seconds = 6 * local.dlq_handler_timeout_seconds
  message_retention_seconds      = local.queue.message_retention_seconds
  dlq_message_retention_seconds  = local.queue.dlq_message_retention_seconds
  max_receive_count              = local.queue.max_receive_count
  depth_alarm_threshold          = local.queue.depth_alarm_threshold
  depth_alarm_evaluation_periods = local.queue.depth_alarm_evaluation_periods
  # A subtask waiting as long as its job may run makes the job time out.
  age_alarm_threshold_seconds     = coalesce(local.queue.age_alarm_threshold_seconds, min(var.job_timeout_seconds, local.queue.message_retention_seconds - 60))
  growth_alarm_threshold          = local.queue.growth_alarm_threshold
  growth_alarm_evaluation_periods = local.queue.growth_alarm_evaluation_periods
  runbook_url                     = var.runbook_url
  kms_master_key_id               = local.queue.kms_master_key_id
  create_alert_topic              = var.create_alert_topic
  alert_topic_arn                 = var.alert_topic_arn
  tags                            = var.tags
}

################################################################################
# Ventilator
################################################################################

data "aws_iam_policy_document" "ventilator" {
  statement {
    sid       = "ReadInputs"
    actions   = ["s3:GetObject"]
    resources = local.input_object_arns
  }

  # Without it S3 answers 403 for a missing input, and a typo would read as a permission problem.
  statement {
    sid       = "TellMissingInputsFromForbiddenOnes"
    actions   = ["s3:ListBucket"]
    resources = local.input_bucket_arns
  }

  statement {
    sid       = "RegisterJobs"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"]
    resources = [var.tracker_table_arn]
  }

  statement {
    sid       = "DispatchSubtasks"
    actions   = ["sqs:SendMessage"]
    resources = [module.queue.queue_arn]
  }

  statement {
    sid       = "HandOverLargeJobs"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.ventilator_arn]
  }

  statement {
    sid       = "KeepPlans"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.jobs.arn}/${local.plans_prefix}*"]
  }

  # A stopped job's undispatched subtasks are counted as skipped; a redrive reopens failed ones; a repeated
  # submission reads a job's dispatch parts (Query).
  statement {
    sid       = "SkipAndReopenSubtasks"
    actions   = ["dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [var.tracker_table_arn]
  }

  statement {
    sid       = "StartShardReductions"
    actions   = ["lambda:InvokeFunction"]
    resources = [var.consolidator_function_arn]
  }

  dynamic "statement" {
    for_each = local.push ? [local.subtask_topic_arn] : []
    content {
      sid       = "PublishSubtasks"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.queue_kms_statements
    content {
      sid       = "EncryptSubtasks"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

# Asynchronous invocations (of the ventilator here, of the consolidator when
# fan_in_tracker is given this queue) that failed every attempt: each message
# holds the request that failed, so a job never disappears silently.
resource "aws_sqs_queue" "failed_invocations" {
  name                      = "${var.name}-failed-invocations"
  message_retention_seconds = 1209600
  # SQS-managed keys: the functions that send here (this module's and the
  # consolidator) then need no grant on a customer key.
  sqs_managed_sse_enabled = true
  policy                  = module.failed_invocations_policy.json
  tags                    = var.tags
}

module "failed_invocations_policy" {
  source = "../deny_insecure_transport"

  actions   = ["sqs:*"]
  resources = ["arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.name}-failed-invocations"]
}

resource "aws_cloudwatch_metric_alarm" "failed_invocations" {
  alarm_name          = "${var.name}-failed-invocations"
  alarm_description   = "An asynchronous invocation (a job submission, a hand-over or a consolidation) failed every attempt and was kept in ${var.name}-failed-invocations.${var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failed_invocations.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.queue.alert_topic_arn]
  ok_actions          = [module.queue.alert_topic_arn]
  tags                = var.tags
}

locals {
  # Every function that sends subtasks names each one's job as its MessageGroupId, or none (var.fair_queues).
  subtask_message_groups = var.fair_queues ? "job" : "none"
}

module "ventilator" {
  source = "../lambda_function"

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = true
  alarm_topic_arn = module.queue.alert_topic_arn
  runbook_url     = var.runbook_url

  name               = local.ventilator_name
  description        = "Splits a job into subtasks, registers it and fans the subtasks out"
  package_path       = var.ventilator_package_path
  handler            = "fan_out_ventilator.handler.lambda_handler"
  architecture       = var.architecture
  timeout_seconds    = var.ventilator_timeout_seconds
  memory_size        = var.ventilator_memory_size
  policy_json        = data.aws_iam_policy_document.ventilator.json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  # S3 notifications and hand-overs are asynchronous: one that fails every attempt is kept, not dropped.
  keep_failed_async_invocations    = true
  async_on_failure_destination_arn = aws_sqs_queue.failed_invocations.arn

  environment_variables = merge(local.environment, local.spec_environment, local.push ? { SUBTASK_TOPIC_ARN = aws_sns_topic.subtasks[0].arn } : {}, {
    SUBTASK_QUEUE_URL     = module.queue.queue_url
    SUBTASKS_PER_SHARD    = tostring(var.subtasks_per_shard)
    PARALLEL_SHARDS       = tostring(local.parallel_shards)
    JOB_TIMEOUT_SECONDS   = tostring(var.job_timeout_seconds)
    JOB_RETENTION_DAYS    = tostring(var.job_retention_days)
    MAX_REDRIVES          = tostring(var.max_redrives_per_job)
    REDRIVE_WINDOW_DAYS   = tostring(var.partials_expiration_days)
    CONSOLIDATOR_FUNCTION = var.consolidator_function_name
    # A repeated submission resumes a dispatch (or a part's) only once its ventilator is surely gone.
    DISPATCH_STALE_SECONDS = tostring(var.ventilator_timeout_seconds + 60)
    # A large job sent whole is cut into parts sent side by side by this many invocations at most.
    DISPATCH_PART_SUBTASKS = tostring(var.dispatch_part_subtasks)
    MAX_DISPATCHERS        = tostring(var.max_dispatchers)
    # Fair queues: each subtask's MessageGroupId is its job id, or none.
    SUBTASK_MESSAGE_GROUPS = local.subtask_message_groups
  })
}

################################################################################
# Workers and DLQ handler: both record completions and may finish a job
################################################################################

data "aws_iam_policy_document" "record_completions" {
  statement {
    sid = "RecordCompletions"
    # BatchGetItem: a batch whose subtasks fill several shards reads them in one request to seal them.
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"]
    resources = [var.tracker_table_arn]
  }

  statement {
    sid       = "StartConsolidator"
    actions   = ["lambda:InvokeFunction"]
    resources = [var.consolidator_function_arn]
  }

  dynamic "statement" {
    for_each = local.queue_kms_statements
    content {
      sid       = "DecryptSubtasks"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

# A windowed job's completion (the worker's or the DLQ handler's) sends the next subtask of its lane,
# built from the job's plan.
data "aws_iam_policy_document" "send_next_subtasks" {
  dynamic "statement" {
    for_each = local.push ? [] : [module.queue.queue_arn]
    content {
      sid       = "SendNextSubtasks"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.push ? [local.subtask_topic_arn] : []
    content {
      sid       = "PublishNextSubtasks"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "ReadPlans"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.jobs.arn}/${local.plans_prefix}*"]
  }

  dynamic "statement" {
    for_each = local.queue_kms_statements
    content {
      sid       = "EncryptNextSubtasks"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "worker" {
  source_policy_documents = [data.aws_iam_policy_document.record_completions.json, data.aws_iam_policy_document.send_next_subtasks.json]

  dynamic "statement" {
    for_each = local.push ? [] : [module.queue.queue_arn]
    content {
      sid       = "ConsumeSubtasks"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "ReadInputs"
    actions   = ["s3:GetObject"]
    resources = local.input_object_arns
  }

  statement {
    sid       = "WritePartialResults"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.jobs.arn}/partials/*"]
  }

  # Resumable workloads only: a chain saves its checkpoint and hands over to the worker itself.
  dynamic "statement" {
    for_each = local.chains ? ["${aws_s3_bucket.jobs.arn}/checkpoints/*"] : []
    content {
      sid       = "KeepCheckpoints"
      actions   = ["s3:PutObject", "s3:GetObject"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.chains ? [local.worker_function_arn] : []
    content {
      sid       = "HandOverToItself"
      actions   = ["lambda:InvokeFunction"]
      resources = [statement.value]
    }
  }

  # sns: the on-failure destination writes failed invocations to the encrypted DLQ as the worker.
  dynamic "statement" {
    for_each = local.push ? local.queue_kms_statements : []
    content {
      sid       = "EncryptDeadSubtasks"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

# The workloads the worker zip was built and checked with (make package's
# manifest): a workload missing from it would fail every subtask at run time,
# so plan refuses it instead.
locals {
  workload_manifest = var.workload_manifest_path == null ? null : (
    fileexists(var.workload_manifest_path) ? try(jsondecode(file(var.workload_manifest_path)).workloads, {}) : null
  )
  # name => what is wrong, for every workload the zips were not checked with as configured.
  unbundled_workloads = local.workload_manifest == null ? {} : {
    for name, workload in var.workloads : name => (
      try(local.workload_manifest[name], null) == null ? "not in the zips" : "the zips were checked with another process, merge or resumable"
    )
    if try(local.workload_manifest[name].process, null) != workload.process ||
    try(local.workload_manifest[name].merge, null) != workload.merge ||
    try(local.workload_manifest[name].resumable, false) != workload.resumable
  }
}

resource "terraform_data" "workload_manifest" {
  count = var.workload_manifest_path == null ? 0 : 1

  lifecycle {
    precondition {
      condition     = local.workload_manifest != null
      error_message = "workload_manifest_path: there is no manifest at ${coalesce(var.workload_manifest_path, "-")}: build the zips with `make package ENV=<env>` (it writes the manifest beside them)."
    }
    precondition {
      condition     = length(local.unbundled_workloads) == 0
      error_message = "workloads: ${join("; ", [for name, problem in local.unbundled_workloads : "${name} ${problem}"])} (manifest ${coalesce(var.workload_manifest_path, "-")}): add each to envs/<env>/workloads.auto.tfvars.json with its package, then run `make package ENV=<env>`."
    }
  }
}

module "worker" {
  source = "../lambda_function"

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = true
  alarm_topic_arn = module.queue.alert_topic_arn
  runbook_url     = var.runbook_url

  name            = "${var.name}-worker"
  description     = "Processes one chunk per subtask and records its completion"
  package_path    = var.worker_package_path
  handler         = "fan_out_worker.handler.lambda_handler"
  architecture    = var.architecture
  timeout_seconds = var.worker_timeout_seconds
  # Its asynchronous invocations: with sqs, a chain's hand-overs, never retried
  # (a lost one is recovered by one receive from the queue once its lease runs
  # out, not by a retry racing it); with sns, every subtask, retried twice and
  # then sent to the subtask DLQ. The sns worker's concurrency is reserved at
  # the cap the event source mapping sets with sqs.
  async_maximum_retry_attempts     = local.push ? 2 : 0
  keep_failed_async_invocations    = local.push
  async_on_failure_destination_arn = local.push ? module.queue.dlq_arn : null
  reserved_concurrent_executions   = local.push ? var.worker_maximum_concurrency : -1
  # With sns a job larger than the reservation is throttled by design (Lambda queues and retries the rest).
  alarm_on_throttles = !local.push
  memory_size        = var.worker_memory_size
  policy_json        = data.aws_iam_policy_document.worker.json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  environment_variables = merge(local.environment, local.subtask_destination_environment, {
    WORKLOADS               = jsonencode(var.workloads)
    MAX_LINE_BYTES          = tostring(var.max_line_bytes)
    CONSOLIDATOR_FUNCTION   = var.consolidator_function_name
    WORKER_THREADS          = tostring(var.worker_threads)
    INLINE_RESULT_MAX_BYTES = tostring(var.inline_result_max_bytes)
    HEARTBEAT_SECONDS       = tostring(var.heartbeat_interval_seconds)
    # How long a claim on a lane's next step may be held: the invocation's own timeout.
    LANE_CLAIM_SECONDS         = tostring(var.worker_timeout_seconds)
    CHECKPOINT_RESERVE_SECONDS = tostring(var.checkpoint_reserve_seconds)
    MAX_CONTINUATIONS          = tostring(var.max_continuations)
    # Fair queues: each subtask's MessageGroupId is its job id, or none.
    SUBTASK_MESSAGE_GROUPS = local.subtask_message_groups
  })
}

resource "aws_lambda_event_source_mapping" "worker" {
  count = local.push ? 0 : 1

  event_source_arn        = module.queue.queue_arn
  function_name           = module.worker.function_arn
  batch_size              = var.worker_batch_size
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.worker_maximum_concurrency
  }

  tags = var.tags
}

# The DLQ handler records subtasks that exhausted their retries as failed.
data "aws_iam_policy_document" "dlq_handler" {
  source_policy_documents = [data.aws_iam_policy_document.record_completions.json, data.aws_iam_policy_document.send_next_subtasks.json]

  statement {
    sid       = "ConsumeDeadSubtasks"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [module.queue.dlq_arn]
  }

  statement {
    sid       = "QuarantineUnrecordableMessages"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.jobs.arn}/${local.quarantine_prefix}*"]
  }
}

module "dlq_handler" {
  source = "../lambda_function"

  permissions_boundary_arn = var.permissions_boundary_arn

  create_alarms   = true
  alarm_topic_arn = module.queue.alert_topic_arn
  runbook_url     = var.runbook_url

  name               = "${var.name}-dlq-handler"
  description        = "Records subtasks that exhausted their retries as failed"
  package_path       = var.dlq_handler_package_path
  handler            = "fan_out_dlq_handler.handler.lambda_handler"
  architecture       = var.architecture
  timeout_seconds    = local.dlq_handler_timeout_seconds
  policy_json        = data.aws_iam_policy_document.dlq_handler.json
  log_retention_days = var.log_retention_days
  tracing_mode       = var.tracing_mode
  tags               = var.tags

  environment_variables = merge(local.environment, local.subtask_destination_environment, {
    CONSOLIDATOR_FUNCTION     = var.consolidator_function_name
    QUARANTINE_AFTER_RECEIVES = tostring(var.quarantine_after_receives)
    SOURCE_MAX_RECEIVE_COUNT  = tostring(local.queue.max_receive_count)
    LANE_CLAIM_SECONDS        = tostring(local.dlq_handler_timeout_seconds)
    # Fair queues: each subtask's MessageGroupId is its job id, or none.
    SUBTASK_MESSAGE_GROUPS = local.subtask_message_groups
  })
}

# A DLQ message the handler could not record is kept under quarantine/ and
# leaves the DLQ: this alarm is how anyone learns of it.
resource "aws_cloudwatch_metric_alarm" "messages_quarantined" {
  alarm_name          = "${var.name}-messages-quarantined"
  alarm_description   = "The DLQ handler could not record a dead subtask message and kept it under ${local.quarantine_prefix} in the job bucket (${var.name}-jobs-*) with the reason.${var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"}"
  namespace           = local.environment.POWERTOOLS_METRICS_NAMESPACE
  metric_name         = "MessagesQuarantined"
  dimensions          = { service = module.dlq_handler.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.queue.alert_topic_arn]
  ok_actions          = [module.queue.alert_topic_arn]
  tags                = var.tags
}

# Subtasks that failed for good (at once, or after their receives) make a job
# PARTIAL or FAILED: worth knowing before anyone reads the result.
resource "aws_cloudwatch_metric_alarm" "subtasks_failed" {
  alarm_name          = "${var.name}-subtasks-failed"
  alarm_description   = "Subtasks failed for good (the worker gave up on input it can never process, or the DLQ handler recorded one that exhausted its receives): their jobs end PARTIAL or FAILED with each failure's last error.${var.runbook_url == null ? "" : " Runbook: ${var.runbook_url}"}"
  evaluation_periods  = 1
  threshold           = var.failed_subtasks_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [module.queue.alert_topic_arn]
  ok_actions          = [module.queue.alert_topic_arn]
  tags                = var.tags

  metric_query {
    id          = "failed"
    expression  = "FILL(at_once, 0) + FILL(after_receives, 0)"
    label       = "Subtasks failed"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { at_once = module.worker.function_name, after_receives = module.dlq_handler.function_name }
    content {
      id = metric_query.key
      metric {
        namespace   = local.environment.POWERTOOLS_METRICS_NAMESPACE
        metric_name = "SubtasksFailed"
        dimensions  = { service = metric_query.value }
        stat        = "Sum"
        period      = 60
      }
    }
  }
}

resource "aws_lambda_event_source_mapping" "dlq_handler" {
  event_source_arn        = module.queue.dlq_arn
  function_name           = module.dlq_handler.function_arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }

  tags = var.tags
}
