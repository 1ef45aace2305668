variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of the queue; the DLQ is \"<name>-dlq\"."
  type        = string
  default     = "orders"
}
