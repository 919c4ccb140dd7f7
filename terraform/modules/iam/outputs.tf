output "instance_profile_name" {
  description = "Instance profile every Ray node runs with."
  value       = aws_iam_instance_profile.ray_node.name
}

output "role_arn" {
  description = "ARN of the Ray node role."
  value       = aws_iam_role.ray_node.arn
}
