# terraform init -backend-config=backend.hcl (make init ENV=prod)
bucket       = "serverless-patterns-tfstate-prod"
key          = "serverless-patterns/prod/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
