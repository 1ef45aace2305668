# The local stack: every pattern on the embedded emulator (`make up`), small
# and fast so tests and the demo see retries, DLQs and jobs within seconds.
environment = "local"
emulator    = true

log_retention_days = 1
# No X-Ray daemon runs beside the emulator.
tracing_mode          = "PassThrough"
environment_variables = { POWERTOOLS_TRACE_DISABLED = "true" }

data_protection = {
  point_in_time_recovery = false
  deletion_protection    = false
  bucket_versioning      = false
  bucket_force_destroy   = true
}

load_leveler = {
  downstream_write_capacity_units = 100
  writes_per_second_per_consumer  = 25
  batch_size                      = 10
  batching_window_seconds         = 0
  consumer_timeout_seconds        = 5
  # The fewest receives for a queue a function consumes (5); with a 5 s
  # function timeout (visibility 30 s) a poison message reaches the DLQ in
  # about two and a half minutes.
  queue = { max_receive_count = 5 }
}

fan_out = {
  # Small chunks, so a few hundred kilobytes make a job of 1,000+ subtasks.
  min_chunk_size_bytes     = 256
  default_chunk_size_bytes = 4096
  max_line_bytes           = 1024
  # Long enough for a batch of ten on an emulator loaded by a 100,000-subtask job.
  worker_timeout_seconds     = 30
  worker_batch_size          = 10
  worker_maximum_concurrency = 8
  # Jobs share the 8 workers evenly (a small job behind a large one: 1.56x its time alone, benchmark 11);
  # a job alone then runs 16 subtasks at once, not the 80 its workers' threads could (0.30x, benchmark 11b).
  default_job_max_concurrency = 16
  job_timeout_seconds         = 3600 # the benchmarks run a 100,000-subtask job here
  # Small shards, so even the tests' jobs are reduced shard by shard.
  subtasks_per_shard       = 250
  job_retention_days       = 1
  inputs_expiration_days   = 1
  results_expiration_days  = 1
  partials_expiration_days = 1
  # Resumable workloads get 4 s per invocation here, so a test's subtask of a
  # few seconds needs a chain of several; a dead chain's lease (3 x 3 s) runs
  # out within seconds.
  checkpoint_reserve_seconds = 26
  heartbeat_interval_seconds = 3
  # Input that can never be processed fails without retries; these receives
  # are for faults that pass (the fault-injection test makes many).
  queue = { max_receive_count = 5 }
}

# The workloads this stack runs, and the packages `make package` bundles for
# them, are in workloads.auto.tfvars.json (`make workloads ENV=local` lists them).

fan_in = {
  consolidator_timeout_seconds = 60
  consolidation_grace_seconds  = 120
}
