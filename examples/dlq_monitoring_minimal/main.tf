# The smallest monitored queue: the queue, its dead-letter queue with a longer
# retention, the five alarms and the encrypted topic they notify. Every other
# input at its default. Point your consumer at queue_arn.
provider "aws" {
  region = var.region
}

module "queue" {
  source = "../../modules/dlq_monitoring"

  name = var.name
}
