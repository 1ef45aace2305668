variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource in this stack."
  type        = string
  default     = "sp-dev"
}

variable "lambda_build_dir" {
  description = "Folder holding the zips built by `make package`."
  type        = string
  default     = null
}
