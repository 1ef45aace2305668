output "api_endpoint" {
  description = "POST /requests here (SigV4-signed: the API uses IAM authorization by default)."
  value       = module.load_leveler.api_endpoint
}

output "api_route_arn" {
  description = "Allow execute-api:Invoke on it to the principals that may send requests."
  value       = module.load_leveler.api_route_arn
}

output "table_name" {
  description = "The downstream table the consumer writes into."
  value       = module.load_leveler.table_name
}

output "maximum_concurrency" {
  description = "Consumers at once, derived from the table's write capacity."
  value       = module.load_leveler.maximum_concurrency
}
