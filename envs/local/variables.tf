variable "name" {
  description = "Prefix of every resource in this stack. Tests set a unique one per run."
  type        = string
  default     = "sp-local"
}

variable "aws_endpoint_url" {
  description = "Endpoint of the emulator (MiniStack or LocalStack) every AWS service is sent to."
  type        = string
  default     = "http://127.0.0.1:4566"

  validation {
    condition     = can(regex("^https?://", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be an http:// or https:// URL, e.g. http://127.0.0.1:4566."
  }
}

variable "region" {
  description = "Region the emulator is addressed in."
  type        = string
  default     = "us-east-1"
}

variable "lambda_build_dir" {
  description = "Folder holding the zips built by `make package`."
  type        = string
  default     = null
}

variable "downstream_write_capacity_units" {
  description = "Write capacity of the downstream table; with writes_per_second_per_consumer it sets the consumer concurrency cap."
  type        = number
  default     = 100
}

variable "writes_per_second_per_consumer" {
  description = "Writes per second each consumer instance is paced to."
  type        = number
  default     = 25
}

variable "create_http_api" {
  description = "Serve the producer through an HTTP API. Set false on emulators without API Gateway v2 (LocalStack Community); tests then invoke the producer directly."
  type        = bool
  default     = true
}

variable "worker_maximum_concurrency" {
  description = "Most fan-out workers running at once."
  type        = number
  default     = 8
}
