# terraform init -backend-config=backend.hcl (make init ENV=dev)
bucket       = "serverless-patterns-tfstate-dev"
key          = "serverless-patterns/dev/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
