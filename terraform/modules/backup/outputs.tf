output "vault_arn" {
  description = "Backup vault holding the recovery points."
  value       = aws_backup_vault.this.arn
}

output "plan_id" {
  description = "Backup plan that protected resources select themselves into."
  value       = aws_backup_plan.this.id
}

output "role_arn" {
  description = "Role AWS Backup assumes to back up and restore."
  value       = aws_iam_role.backup.arn
}
