output "security_group_id" {
  description = "Security group of every Ray node (Aurora admits it on 5432)."
  value       = aws_security_group.ray.id
}

output "head_address" {
  description = "GCS address workers join (host:port)."
  value       = "${var.head_private_ip}:6379"
}

output "dashboard_url" {
  description = "Dashboard and job-submission API (RAY_ADDRESS for `ray job submit`)."
  value       = "http://${var.head_private_ip}:8265"
}

output "node_group_names" {
  description = "Auto Scaling group per node class."
  value       = { for k, g in aws_autoscaling_group.worker : k => g.name }
}

output "journal_volume_arn" {
  description = "Persistent data volume of the arbiter node (execution journals)."
  value       = aws_ebs_volume.journal.arn
}
