output "json" {
  description = "The policy document: a single DenyInsecureTransport statement."
  value       = data.aws_iam_policy_document.this.json
}
