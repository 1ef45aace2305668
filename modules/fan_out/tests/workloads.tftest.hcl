# Workloads: what each reads, and the plan-time check against the manifest of
# `make package` (workload_manifest_path). Offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name                       = "reports"
  ventilator_package_path    = "tests/fixture.zip"
  worker_package_path        = "tests/fixture.zip"
  dlq_handler_package_path   = "tests/fixture.zip"
  tracker_table_name         = "reports-jobs"
  tracker_table_arn          = "arn:aws:dynamodb:eu-west-1:123456789012:table/reports-jobs"
  consolidator_function_name = "reports-consolidator"
  consolidator_function_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:reports-consolidator"
  workloads = {
    word_count = {
      process = "serverless_patterns.workloads.word_count:process"
      merge   = "serverless_patterns.workloads.word_count:merge_counts"
      reads   = ["bytes"]
    }
    csv_totals = {
      process = "csv_totals.workload:process"
      merge   = "csv_totals.workload:merge"
      reads   = ["records"]
    }
    anything = { process = "anything.workload:process" }
  }
}

run "the_functions_know_what_each_workload_reads" {
  command = plan

  assert {
    condition     = jsondecode(module.worker.environment_variables.WORKLOADS).csv_totals.reads == ["records"] && jsondecode(module.worker.environment_variables.WORKLOADS).anything.reads == null
    error_message = "WORKLOADS must carry each workload's reads, null where it declares none."
  }
  assert {
    condition     = module.ventilator.environment_variables.WORKLOADS == module.worker.environment_variables.WORKLOADS
    error_message = "The ventilator must check a job's source against the workers' own workloads."
  }
  assert {
    condition     = length(terraform_data.workload_manifest) == 0
    error_message = "Without workload_manifest_path nothing is checked against a manifest."
  }
}

run "a_manifest_listing_every_workload_passes" {
  command = plan

  variables {
    workloads = {
      word_count = { process = "serverless_patterns.workloads.word_count:process", merge = "serverless_patterns.workloads.word_count:merge_counts" }
      csv_totals = { process = "csv_totals.workload:process", merge = "csv_totals.workload:merge", reads = ["records"] }
    }
    workload_manifest_path = "tests/manifests/bundled.json"
  }

  assert {
    condition     = length(terraform_data.workload_manifest) == 1 && length(local.unbundled_workloads) == 0
    error_message = "Workloads the manifest lists with the same functions must pass."
  }
}

run "refuses_a_workload_the_zips_lack" {
  command = plan

  variables {
    workloads = {
      word_count = { process = "serverless_patterns.workloads.word_count:process", merge = "serverless_patterns.workloads.word_count:merge_counts" }
      csv_totals = { process = "csv_totals.workload:process", merge = "csv_totals.workload:merge" }
    }
    workload_manifest_path = "tests/manifests/word_count_only.json"
  }

  expect_failures = [terraform_data.workload_manifest]
}

run "refuses_a_workload_the_zips_were_checked_with_under_other_functions" {
  command = plan

  variables {
    workloads = {
      csv_totals = { process = "csv_totals.workload:process", merge = "csv_totals.workload:merge_v2" }
    }
    default_workload       = "csv_totals"
    workload_manifest_path = "tests/manifests/bundled.json"
  }

  expect_failures = [terraform_data.workload_manifest]
}

run "refuses_a_manifest_that_is_not_there" {
  command = plan

  variables {
    workload_manifest_path = "tests/manifests/absent.json"
  }

  expect_failures = [terraform_data.workload_manifest]
}

run "rejects_reads_of_an_unknown_kind_or_none" {
  command = plan

  variables {
    workloads = {
      word_count = { process = "serverless_patterns.workloads.word_count:process", reads = ["lines"] }
      empty      = { process = "empty.workload:process", reads = [] }
    }
  }

  expect_failures = [var.workloads]
}
