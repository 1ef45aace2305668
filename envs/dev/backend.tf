# Remote state in S3 with S3's native lock file (Terraform >= 1.10, no
# DynamoDB table). The bucket, key and region are in backend.hcl:
# `make init ENV=<env>` passes it; `make state-bucket ENV=<env>` creates the
# bucket (versioned, encrypted, private) once per account.
terraform {
  backend "s3" {}
}
