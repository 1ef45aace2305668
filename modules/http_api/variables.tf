variable "name" {
  description = "Prefix of every resource name the module creates (its README lists the names it derives)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen: it prefixes bucket, queue, table and function names."
  }

  validation {
    condition     = length(var.name) <= 128
    error_message = "name must be at most 128 characters (an HTTP API name)."
  }
}

variable "description" {
  description = "What the API is for, shown in the console."
  type        = string
  default     = null
}

variable "function_name" {
  description = "The function behind every route (API Gateway gets permission to invoke it)."
  type        = string
}

variable "function_invoke_arn" {
  description = "Invoke ARN of that function (the lambda_function module's invoke_arn)."
  type        = string
}

variable "routes" {
  description = "The routes, by a name of your choice: \"METHOD /path\", with {parameters} in the path, e.g. { status = \"GET /jobs/{job_id}\" }."
  type        = map(string)

  validation {
    condition     = length(var.routes) > 0 && alltrue([for route in values(var.routes) : can(regex("^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /[^ ]*$", route))])
    error_message = "routes needs at least one route, each \"METHOD /path\" (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY)."
  }
}

variable "invoke_path" {
  description = "The path API Gateway may invoke the function for, after <stage>/<method>/: \"requests\", or \"jobs*\" for /jobs and everything under it."
  type        = string

  validation {
    condition     = length(var.invoke_path) > 0 && !startswith(var.invoke_path, "/")
    error_message = "invoke_path is a path without its leading /, such as \"jobs*\"."
  }
}

variable "authorization_type" {
  description = "Who may call the routes: AWS_IAM (SigV4-signed requests of principals allowed execute-api:Invoke), JWT (tokens of var.jwt's issuer) or NONE (anyone who knows the URL)."
  type        = string
  default     = "AWS_IAM"
  nullable    = false

  validation {
    condition     = contains(["AWS_IAM", "JWT", "NONE"], var.authorization_type)
    error_message = "authorization_type must be AWS_IAM, JWT or NONE."
  }
}

variable "jwt" {
  description = "The JWT authorizer (with authorization_type = \"JWT\"): the tokens' issuer URL and the audiences (client ids) it accepts."
  type = object({
    issuer   = string
    audience = list(string)
  })
  default = null

  validation {
    condition     = var.authorization_type != "JWT" || try(startswith(var.jwt.issuer, "https://") && length(var.jwt.audience) > 0, false)
    error_message = "jwt needs an https:// issuer and at least one audience when authorization_type is JWT."
  }
}

variable "throttling_rate_limit" {
  description = "Requests per second the API takes before answering 429 (every route)."
  type        = number
  nullable    = false

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be greater than 0."
  }
}

variable "throttling_burst_limit" {
  description = "Requests the API takes at once above its rate before answering 429."
  type        = number
  nullable    = false

  validation {
    condition     = var.throttling_burst_limit >= 1 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number of at least 1."
  }
}

variable "integration_timeout_milliseconds" {
  description = "How long API Gateway waits for the function: a little more than its timeout, at most 30,000 (HTTP APIs' limit)."
  type        = number
  nullable    = false

  validation {
    condition     = var.integration_timeout_milliseconds >= 50 && var.integration_timeout_milliseconds <= 30000
    error_message = "integration_timeout_milliseconds must be 50-30000 (HTTP APIs' limit): shorten the function's timeout."
  }
}

variable "log_retention_days" {
  description = "Retention in days of the log groups the module creates."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "tags" {
  description = "Tags for every resource the module creates, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key, value in var.tags : length(key) >= 1 && length(key) <= 128 && length(value) <= 256 && !startswith(lower(key), "aws:")])
    error_message = "tags: every key must be 1-128 characters and not start with \"aws:\" (reserved by AWS), every value at most 256 characters."
  }
}
