output "ray_dashboard_url" {
  description = "RAY_ADDRESS for `ray job submit` (reachable from the VPN or through SSM port forwarding)."
  value       = module.ray_cluster.dashboard_url
}

output "ray_image_repository" {
  description = "Push the Ray node image here (tag = var.image_tag)."
  value       = module.registry.repository_url
}

output "database_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.aurora.endpoint
}

output "database_master_secret_arn" {
  description = "Secret with the generated master credentials (for migrations only)."
  value       = module.aurora.master_user_secret_arn
}

output "secret_arns" {
  description = "Secrets the Ray nodes may read: the credential store's master-key and any per-tenant venue secrets."
  value       = module.secrets.secret_arns
}

output "secrets_backend_uri" {
  description = "Secrets backend URI the application uses in this environment."
  value       = module.secrets.backend_uri
}

output "prometheus_remote_write_url" {
  description = "Remote-write endpoint of the metrics workspace."
  value       = module.observability.prometheus_remote_write_url
}
