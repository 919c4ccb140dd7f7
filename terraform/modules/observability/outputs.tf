output "log_group_name" {
  description = "CloudWatch log group the Ray nodes ship logs to."
  value       = aws_cloudwatch_log_group.ray.name
}

output "log_group_arn" {
  description = "ARN of the Ray log group."
  value       = aws_cloudwatch_log_group.ray.arn
}

output "prometheus_workspace_arn" {
  description = "ARN of the Managed Prometheus workspace (IAM scope for aps:RemoteWrite)."
  value       = aws_prometheus_workspace.this.arn
}

output "prometheus_remote_write_url" {
  description = "Remote-write URL the nodes push metrics to."
  value       = "${aws_prometheus_workspace.this.prometheus_endpoint}api/v1/remote_write"
}

output "alarm_topic_arn" {
  description = "SNS topic that CloudWatch alarms notify."
  value       = aws_sns_topic.alarms.arn
}
