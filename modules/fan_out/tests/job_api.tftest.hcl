# The job API (create_job_api): plan-level, offline, against a mocked AWS provider.
mock_provider "aws" {
  source = "../../tests/terraform/mocks"
}

variables {
  name                       = "reports"
  ventilator_package_path    = "tests/fixture.zip"
  worker_package_path        = "tests/fixture.zip"
  dlq_handler_package_path   = "tests/fixture.zip"
  api_package_path           = "tests/fixture.zip"
  tracker_table_name         = "reports-jobs"
  tracker_table_arn          = "arn:aws:dynamodb:eu-west-1:123456789012:table/reports-jobs"
  consolidator_function_name = "reports-consolidator"
  consolidator_function_arn  = "arn:aws:lambda:eu-west-1:123456789012:function:reports-consolidator"
}

run "no_api_unless_asked" {
  command = plan

  assert {
    condition     = length(module.job_http_api) == 0 && length(module.job_api) == 0 && output.job_api_endpoint == null
    error_message = "The job API is created on request only."
  }
}

run "four_routes_signed_by_default_throttled_and_logged" {
  command = plan

  variables {
    create_job_api = true
  }

  override_resource {
    target          = module.ventilator.aws_lambda_function.this
    values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:reports-ventilator" }
    override_during = plan
  }

  assert {
    condition     = module.job_http_api[0].route_keys == { submit = "POST /jobs", status = "GET /jobs/{job_id}", cancel = "DELETE /jobs/{job_id}", change = "PATCH /jobs/{job_id}" }
    error_message = "The job API has POST /jobs, GET /jobs/{job_id}, DELETE /jobs/{job_id} and PATCH /jobs/{job_id}."
  }
  assert {
    condition     = module.job_http_api[0].authorization_type == "AWS_IAM"
    error_message = "Every route must take only SigV4-signed requests by default."
  }
  assert {
    condition     = module.job_http_api[0].throttling == { rate_limit = 50, burst_limit = 100 } && module.job_http_api[0].access_log_group_name == "/aws/apigateway/reports-jobs-api"
    error_message = "The stage must be throttled and write access logs."
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.job_api[0].statement : s.resources if s.sid == "HandSpecsToTheVentilator"]) == toset(["arn:aws:lambda:eu-west-1:123456789012:function:reports-ventilator"])
    error_message = "The API's function may invoke the ventilator and nothing else."
  }
  assert {
    condition     = module.job_api[0].environment_variables.MAX_SUBTASKS == module.ventilator.environment_variables.MAX_SUBTASKS && module.job_api[0].environment_variables.WORKLOADS == module.ventilator.environment_variables.WORKLOADS
    error_message = "The API must check a spec against the ventilator's own limits and workloads."
  }
  assert {
    condition     = contains(output.function_names, "reports-jobs-api") && contains(keys(output.function_alarm_arns), "job_api")
    error_message = "The API's function joins the module's functions and alarms."
  }
}

run "a_jwt_authorizer_on_request" {
  command = plan

  variables {
    create_job_api        = true
    job_api_authorization = "JWT"
    job_api_jwt           = { issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", audience = ["client-1"] }
  }

  assert {
    condition     = module.job_http_api[0].jwt_audience == toset(["client-1"]) && module.job_http_api[0].authorization_type == "JWT"
    error_message = "With JWT, every route goes through the JWT authorizer."
  }
}

run "rejects_a_jwt_api_without_issuer_a_missing_zip_and_a_fractional_burst" {
  command = plan

  variables {
    create_job_api                 = true
    api_package_path               = null
    job_api_authorization          = "JWT"
    job_api_jwt                    = { issuer = "http://insecure.example.com", audience = [] }
    job_api_throttling_burst_limit = 0.5
  }

  expect_failures = [var.api_package_path, var.job_api_jwt, var.job_api_throttling_burst_limit]
}

run "rejects_an_unknown_authorization" {
  command = plan

  variables {
    job_api_authorization = "COGNITO"
  }

  expect_failures = [var.job_api_authorization]
}
