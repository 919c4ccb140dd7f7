variable "name" {
  description = "Cluster identifier prefix, e.g. arbiter-staging."
  type        = string
}

variable "vpc_id" {
  description = "VPC the cluster lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two AZs)."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the Ray nodes)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Customer-managed key for storage, Performance Insights, the master secret and backups."
  type        = string
}

variable "engine_version" {
  description = "Aurora PostgreSQL version (row-level security is used for tenancy)."
  type        = string
  default     = "16.4"
}

variable "instance_class" {
  description = "Instance class of every cluster instance."
  type        = string
}

variable "instance_count" {
  description = "Writer plus readers; 2+ gives a failover target in another AZ."
  type        = number
  default     = 1
}

variable "backup_retention_days" {
  description = "Automated snapshot retention."
  type        = number
  default     = 14
}

variable "backup_plan_id" {
  description = "AWS Backup plan (modules/backup) this module's data joins."
  type        = string
}

variable "backup_role_arn" {
  description = "Role AWS Backup uses for this module's data."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
