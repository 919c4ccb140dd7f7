variable "name" {
  description = "Prefix for every resource name, e.g. arbiter-staging."
  type        = string
}

variable "secret_arns" {
  description = "Secrets the Ray nodes may read (the credential store master key, tenant venue secrets; nothing else)."
  type        = list(string)
}

variable "ray_auth_token_secret_arn" {
  description = "The Ray cluster token secret (modules/secrets ray_auth_token_arn): the nodes may write it (the head does, once, on its first boot)."
  type        = string
}

variable "kms_key_arn" {
  description = "Key the secrets are encrypted with; decrypt is allowed only via Secrets Manager."
  type        = string
}

variable "db_cluster_resource_id" {
  description = "Aurora cluster resource id (cluster-XXXX), the scope of rds-db:connect."
  type        = string
}

variable "db_users" {
  description = "Database users the nodes may log in as with IAM authentication; empty by default because tenant sessions log in as per-tenant roles with passwords from the credential store (docs/tenancy.md)."
  type        = list(string)
  default     = []
}

variable "prometheus_workspace_arn" {
  description = "Managed Prometheus workspace the nodes remote-write to."
  type        = string
}

variable "log_group_arn" {
  description = "CloudWatch log group the nodes write to."
  type        = string
}

variable "ecr_repository_arn" {
  description = "Repository the nodes pull the Ray image from."
  type        = string
}

variable "journal_volume_arn" {
  description = "The arbiter's persistent journal volume, which the arbiter node attaches at boot."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
