# job_client_policy_json, the policy of the users of jobs: plan-level,
# offline, against a mocked AWS provider (its statements are read as
# configured, the mock renders no JSON).
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

override_resource {
  target          = aws_s3_bucket.jobs
  values          = { arn = "arn:aws:s3:::reports-jobs-1", bucket = "reports-jobs-1", id = "reports-jobs-1" }
  override_during = plan
}
override_resource {
  target          = module.ventilator.aws_lambda_function.this
  values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:reports-ventilator" }
  override_during = plan
}
override_resource {
  target          = module.job_api[0].aws_lambda_function.this
  values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:reports-jobs-api" }
  override_during = plan
}
override_resource {
  target          = module.job_http_api[0].aws_apigatewayv2_api.this
  values          = { execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5" }
  override_during = plan
}

run "one_statement_per_need_on_exact_resources" {
  command = plan

  variables {
    create_job_api = true
  }

  assert {
    condition = jsonencode({
      for statement in data.aws_iam_policy_document.job_client.statement :
      statement.sid => { actions = sort(statement.actions), resources = sort(statement.resources) }
      }) == jsonencode({
      UploadInputs               = { actions = ["s3:AbortMultipartUpload", "s3:PutObject"], resources = ["arn:aws:s3:::reports-jobs-1/inputs/*"] }
      ReadResults                = { actions = ["s3:GetObject"], resources = ["arn:aws:s3:::reports-jobs-1/results/*"] }
      SubmitJobsThroughTheJobApi = { actions = ["execute-api:Invoke"], resources = ["arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/POST/jobs"] }
      FollowJobsThroughTheJobApi = { actions = ["execute-api:Invoke"], resources = ["arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/GET/jobs/*"] }
      CancelJobsThroughTheJobApi = { actions = ["execute-api:Invoke"], resources = ["arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/DELETE/jobs/*"] }
      ChangeJobsThroughTheJobApi = { actions = ["execute-api:Invoke"], resources = ["arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/PATCH/jobs/*"] }
      CallTheJobApiFunction      = { actions = ["lambda:InvokeFunction"], resources = ["arn:aws:lambda:eu-west-1:123456789012:function:reports-jobs-api"] }
      SubmitJobsToTheVentilator  = { actions = ["lambda:InvokeFunction"], resources = ["arn:aws:lambda:eu-west-1:123456789012:function:reports-ventilator"] }
      FollowJobsInTheTracker     = { actions = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"], resources = ["arn:aws:dynamodb:eu-west-1:123456789012:table/reports-jobs"] }
      CancelJobsInTheTracker     = { actions = ["dynamodb:UpdateItem"], resources = ["arn:aws:dynamodb:eu-west-1:123456789012:table/reports-jobs"] }
    })
    error_message = "The client policy must grant each call of JobsClient and the CLI on its exact resource, and nothing else: the job API's routes and function, the ventilator, the tracker table, inputs/ and results/."
  }
  assert {
    condition     = alltrue([for statement in data.aws_iam_policy_document.job_client.statement : alltrue([for block in [statement.principals, statement.not_principals, statement.not_actions, statement.not_resources, statement.condition] : try(length(block), 0) == 0])])
    error_message = "The client policy is an identity policy of plain allows: no principals, no Not*, and no condition (nothing lists the bucket, so no s3:prefix)."
  }
  assert {
    condition     = jsonencode(values(output.job_api_route_arns)) == jsonencode([for sid in ["CancelJobsThroughTheJobApi", "ChangeJobsThroughTheJobApi", "FollowJobsThroughTheJobApi", "SubmitJobsThroughTheJobApi"] : one(one([for statement in data.aws_iam_policy_document.job_client.statement : statement.resources if statement.sid == sid]))])
    error_message = "The policy's routes must be the ones job_api_route_arns publishes (cancel, change, status, submit)."
  }
}

run "without_the_job_api_only_the_direct_path_and_the_bucket" {
  command = plan

  assert {
    condition     = jsonencode(sort([for statement in data.aws_iam_policy_document.job_client.statement : statement.sid])) == jsonencode(["CancelJobsInTheTracker", "FollowJobsInTheTracker", "ReadResults", "SubmitJobsToTheVentilator", "UploadInputs"])
    error_message = "Without create_job_api, nothing may be granted on job API routes or a job API function."
  }
}

run "a_jwt_api_is_called_with_tokens_not_iam" {
  command = plan

  variables {
    create_job_api        = true
    job_api_authorization = "JWT"
    job_api_jwt           = { issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", audience = ["client-1"] }
  }

  assert {
    condition     = jsonencode(sort([for statement in data.aws_iam_policy_document.job_client.statement : statement.sid])) == jsonencode(["CallTheJobApiFunction", "CancelJobsInTheTracker", "FollowJobsInTheTracker", "ReadResults", "SubmitJobsToTheVentilator", "UploadInputs"])
    error_message = "With JWT authorization IAM does not decide who calls a route: no execute-api:Invoke statements."
  }
}
