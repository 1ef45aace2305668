# kms_key_arn, the stack's customer managed key: plan-level, offline, against
# a mocked AWS provider. The first runs plan the composition and check what
# each module is given; the last plan each module as the stack calls it and
# check that its queues and topics take the key and that every role using one
# is granted it (a test can read a module's outputs, not its resources).
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

# The composition's runs share these (each run below sets only what it changes); the module runs
# set their own and ignore them.
variables {
  environment      = "staging"
  region           = "eu-west-1"
  lambda_build_dir = "../../build/lambda"
  kms_key_arn      = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
}

run "the_stack_key_reaches_every_queue_and_topic" {
  command = plan

  variables {
    load_leveler = { queue = { max_receive_count = 7 } }
    fan_out      = { transport = "sns", queue = { depth_alarm_threshold = 5000 } }
  }

  assert {
    condition     = local.queue_settings.load_leveler.kms_master_key_id == var.kms_key_arn && module.fan_out.kms_key_arn == var.kms_key_arn
    error_message = "The load leveler's and the fan-out's queues (and their DLQs, the subtask topic with sns) must be given the stack's key."
  }
  assert {
    condition     = module.load_leveler.max_receive_count == 7 && local.queue_settings.fan_out.depth_alarm_threshold == 5000
    error_message = "The key joins the queue settings given; it must not replace them."
  }
  assert {
    condition     = local.job_events_kms_master_key_id == var.kms_key_arn && module.fan_out.transport == "sns"
    error_message = "The job events topic must be given the stack's key (the subtask topic takes the fan-out queue's)."
  }
}

run "a_queue_key_of_its_own_wins" {
  command = plan

  variables {
    fan_out = { queue = { kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/subtasks", max_receive_count = null } }
  }

  assert {
    condition     = module.fan_out.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/subtasks" && local.queue_settings.load_leveler.kms_master_key_id == var.kms_key_arn
    error_message = "fan_out.queue.kms_master_key_id must win over kms_key_arn for that queue only."
  }
  assert {
    condition     = !contains(keys(local.queue_settings.fan_out), "max_receive_count") && module.fan_out.max_receive_count == 5
    error_message = "A null queue setting is unset, as the modules read it: their default applies."
  }
}

run "without_a_key_sse_sqs_and_the_aws_managed_topic_key" {
  command = plan

  variables {
    kms_key_arn = null
  }

  assert {
    condition     = local.queue_settings == { load_leveler = {}, fan_out = {} } && module.fan_out.kms_key_arn == null && local.job_events_kms_master_key_id == "alias/aws/sns"
    error_message = "Without kms_key_arn the queues keep SSE-SQS and the job events topic SNS's AWS managed key."
  }
}

run "rejects_an_alias" {
  command = plan

  variables {
    kms_key_arn = "alias/serverless-patterns"
  }

  expect_failures = [var.kms_key_arn]
}

run "rejects_a_key_of_another_region" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  expect_failures = [var.kms_key_arn]
}

# The modules as the stack calls them with the key: each queue and topic, and
# each role's kms statements (what SQS and SNS need of the caller: a producer
# kms:GenerateDataKey and kms:Decrypt, a consumer kms:Decrypt).

run "fan_out_queues_topic_and_roles_with_the_key" {
  command = plan

  module {
    source = "../../modules/fan_out"
  }

  variables {
    name                       = "sp-staging-fo"
    ventilator_package_path    = "../../build/lambda/fan_out_ventilator.zip"
    worker_package_path        = "../../build/lambda/fan_out_worker.zip"
    dlq_handler_package_path   = "../../build/lambda/fan_out_dlq_handler.zip"
    tracker_table_name         = "sp-staging-fo-jobs"
    tracker_table_arn          = "arn:aws:dynamodb:eu-west-1:123456789012:table/sp-staging-fo-jobs"
    consolidator_function_name = "sp-staging-fo-consolidator"
    consolidator_function_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:sp-staging-fo-consolidator"
    transport                  = "sns"
    queue                      = { kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
  }

  assert {
    condition     = aws_sns_topic.subtasks[0].kms_master_key_id == var.queue.kms_master_key_id
    error_message = "The subtask topic must be encrypted with the key of the queue."
  }
  assert {
    condition = jsonencode({
      ventilator  = { for s in data.aws_iam_policy_document.ventilator.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      worker      = { for s in data.aws_iam_policy_document.worker.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      shared      = { for s in data.aws_iam_policy_document.record_completions.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      dlq_handler = { for s in data.aws_iam_policy_document.dlq_handler.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      sends       = { for s in data.aws_iam_policy_document.send_next_subtasks.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      }) == jsonencode({
      # Sends to the queue (sqs) or publishes to the topic (sns), redrives included.
      ventilator = { EncryptSubtasks = [["kms:Decrypt", "kms:GenerateDataKey"], [var.queue.kms_master_key_id]] }
      # With sns, Lambda's on-failure destination sends the worker's failed subtasks to the DLQ as the worker.
      worker = { EncryptDeadSubtasks = [["kms:GenerateDataKey"], [var.queue.kms_master_key_id]] }
      # record_completions is in both the worker's and the DLQ handler's policy (source_policy_documents).
      shared      = { DecryptSubtasks = [["kms:Decrypt"], [var.queue.kms_master_key_id]] }
      dlq_handler = {}
      # send_next_subtasks, also in both: a windowed job's completion sends the next subtask of its lane.
      sends = { EncryptNextSubtasks = [["kms:GenerateDataKey"], [var.queue.kms_master_key_id]] }
    })
    error_message = "The ventilator must encrypt with the key; the worker and the DLQ handler decrypt (record_completions), and the sns worker also encrypts what fails into the DLQ."
  }
  assert {
    condition     = contains(data.aws_iam_policy_document.worker.source_policy_documents, data.aws_iam_policy_document.record_completions.json) && contains(data.aws_iam_policy_document.dlq_handler.source_policy_documents, data.aws_iam_policy_document.record_completions.json)
    error_message = "The worker's and the DLQ handler's policies must include record_completions, which decrypts the subtasks."
  }
}

run "load_leveler_roles_with_the_key" {
  command = plan

  module {
    source = "../../modules/load_leveler"
  }

  variables {
    name                  = "sp-staging-ll"
    producer_package_path = "../../build/lambda/load_leveler_producer.zip"
    consumer_package_path = "../../build/lambda/load_leveler_consumer.zip"
    queue                 = { kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" }
  }

  assert {
    condition = jsonencode({
      producer = { for s in data.aws_iam_policy_document.producer.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      consumer = { for s in data.aws_iam_policy_document.consumer.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      }) == jsonencode({
      producer = { EncryptQueueMessages = [["kms:Decrypt", "kms:GenerateDataKey"], [var.queue.kms_master_key_id]] }
      consumer = { DecryptQueueMessages = [["kms:Decrypt"], [var.queue.kms_master_key_id]] }
    })
    error_message = "The producer must encrypt with the queue's key and the consumer decrypt."
  }
}

run "the_job_events_topic_and_its_publisher_with_the_key" {
  command = plan

  module {
    source = "../../modules/fan_in_tracker"
  }

  variables {
    name                         = "sp-staging-fo"
    consolidator_package_path    = "../../build/lambda/fan_in_consolidator.zip"
    sweeper_package_path         = "../../build/lambda/fan_in_sweeper.zip"
    job_bucket_name              = "sp-staging-fo-jobs-1"
    job_bucket_arn               = "arn:aws:s3:::sp-staging-fo-jobs-1"
    job_events_kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = aws_sns_topic.job_events.kms_master_key_id == var.job_events_kms_master_key_id
    error_message = "The job events topic must be encrypted with the stack's key."
  }
  assert {
    condition = jsonencode({
      consolidator = { for s in data.aws_iam_policy_document.consolidator.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      sweeper      = { for s in data.aws_iam_policy_document.sweeper.statement : s.sid => [sort(s.actions), sort(s.resources)] if anytrue([for action in s.actions : startswith(action, "kms:")]) }
      }) == jsonencode({
      consolidator = { EncryptJobEvents = [["kms:Decrypt", "kms:GenerateDataKey"], [var.job_events_kms_master_key_id]] }
      sweeper      = {}
    })
    error_message = "The consolidator, the topic's only publisher, must encrypt with the key; the sweeper uses no queue or topic."
  }
}

run "both_queues_of_a_pattern_with_the_key" {
  command = plan

  module {
    source = "../../modules/dlq_monitoring"
  }

  variables {
    name              = "sp-staging-fo-subtasks"
    kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == var.kms_master_key_id && aws_sqs_queue.dlq.kms_master_key_id == var.kms_master_key_id
    error_message = "A queue given a key and its DLQ must both be encrypted with it."
  }
}
