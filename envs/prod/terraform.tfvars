# The prod stack: capacity for real traffic, long log retention, point-in-time
# recovery, deletion protection and versioned job results.
environment = "prod"
region      = "eu-west-1"

log_retention_days = 90

# A customer managed key of this region for the queues and the topics (the key
# policy it needs is in envs/shared/README.md); unset, SSE-SQS and SNS's AWS
# managed key encrypt them.
# kms_key_arn = "arn:aws:kms:eu-west-1:<account id>:key/<key id>"

data_protection = {
  point_in_time_recovery = true
  deletion_protection    = true
  bucket_versioning      = true
}

load_leveler = {
  downstream_write_capacity_units = 200
  writes_per_second_per_consumer  = 10
  queue = {
    depth_alarm_threshold  = 5000
    growth_alarm_threshold = 1000
  }
}

fan_out = {
  worker_maximum_concurrency = 100
  # Job records for a quarter; inputs for a month; results are kept.
  job_retention_days     = 90
  inputs_expiration_days = 30
}

# The workloads this stack runs, and the packages `make package` bundles for
# them, are in workloads.auto.tfvars.json (`make workloads ENV=prod` lists them).

# Set the on-call addresses of your team; chat webhooks go in
# TF_VAR_chat_webhook_urls, never in a committed file.
alerts = {
  email_addresses = []
  https_endpoints = []
}
