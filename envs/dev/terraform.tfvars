# The dev stack: small capacity, short retention, no deletion protection.
environment = "dev"
region      = "eu-west-1"

log_retention_days = 7

data_protection = {
  point_in_time_recovery = false
  deletion_protection    = false
  bucket_versioning      = false
}

load_leveler = {
  downstream_write_capacity_units = 50
  writes_per_second_per_consumer  = 10
}

fan_out = {
  worker_maximum_concurrency = 20
  job_retention_days         = 7
  inputs_expiration_days     = 7
  results_expiration_days    = 30
}

# The workloads this stack runs, and the packages `make package` bundles for
# them, are in workloads.auto.tfvars.json (`make workloads ENV=dev` lists them).

alerts = {
  email_addresses = []
}
