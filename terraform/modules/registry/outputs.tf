output "repository_arn" {
  description = "ARN of the Ray node image repository."
  value       = aws_ecr_repository.ray_node.arn
}

output "repository_url" {
  description = "URL to push/pull the Ray node image (append :TAG)."
  value       = aws_ecr_repository.ray_node.repository_url
}
