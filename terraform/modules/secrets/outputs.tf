output "secret_arns" {
  description = "Secret ARN per name under the prefix (\"master-key\", \"ray-auth-token\", \"tenants/<tenant>/<venue>\")."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "backend_uri" {
  description = "Secrets backend URI for the application (arbiter.security.backends.backend_from_uri)."
  value       = "aws:?prefix=${var.name_prefix}/"
}

output "ray_auth_token_arn" {
  description = "ARN of the Ray cluster token secret (modules/ray_cluster writes it once and reads it at every node's boot)."
  value       = aws_secretsmanager_secret.this["ray-auth-token"].arn
}
