output "secret_arns" {
  description = "Secret ARN per name under the prefix (\"master-key\", \"tenants/<tenant>/<venue>\")."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "backend_uri" {
  description = "Secrets backend URI for the application (arbiter.security.backends.backend_from_uri)."
  value       = "aws:?prefix=${var.name_prefix}/"
}
