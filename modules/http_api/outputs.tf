output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "Base URL of the HTTP API (its $default stage)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "execution_arn" {
  description = "Execution ARN of the HTTP API: <execution_arn>/<stage>/<METHOD>/<path> is what execute-api:Invoke is allowed on."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "route_ids" {
  description = "IDs of the routes, by the keys of var.routes."
  value       = { for key, route in aws_apigatewayv2_route.this : key => route.id }
}

output "route_keys" {
  description = "The routes as planned, by the keys of var.routes."
  value       = { for key, route in aws_apigatewayv2_route.this : key => route.route_key }
}

output "authorization_type" {
  description = "The authorization every route has: AWS_IAM, JWT or NONE."
  value       = one(distinct([for route in aws_apigatewayv2_route.this : route.authorization_type]))
}

output "throttling" {
  description = "The stage's throttling: rate_limit (requests per second) and burst_limit."
  value = {
    rate_limit  = one(aws_apigatewayv2_stage.default.default_route_settings).throttling_rate_limit
    burst_limit = one(aws_apigatewayv2_stage.default.default_route_settings).throttling_burst_limit
  }
}

output "access_log_group_name" {
  description = "The log group of the stage's access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "jwt_audience" {
  description = "The audiences the JWT authorizer accepts, or null without one."
  value       = var.authorization_type == "JWT" ? one(aws_apigatewayv2_authorizer.jwt[0].jwt_configuration).audience : null
}
