variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "load-leveler-minimal"
}

variable "lambda_build_dir" {
  description = "Folder holding the zips of `make package` (of the same version as the modules)."
  type        = string
  default     = null
}
