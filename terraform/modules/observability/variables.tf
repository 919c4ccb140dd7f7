variable "name" {
  description = "Prefix for every resource name, e.g. arbiter-staging."
  type        = string
}

variable "log_group_prefix" {
  description = "CloudWatch Logs prefix, e.g. /arbiter/staging."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key for logs, the metrics workspace and the alarm topic."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the Ray log group."
  type        = number
  default     = 365
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm by mail)."
  type        = list(string)
  default     = []
}

variable "rule_files" {
  description = "Extra Prometheus rule files (namespace name => YAML content), e.g. the engine's alerts in cluster/prometheus/alerts.yml."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
