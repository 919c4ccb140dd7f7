variable "name" {
  description = "Prefix for every resource name, e.g. arbiter-staging."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key that encrypts the recovery points."
  type        = string
}

variable "daily_retention_days" {
  description = "Retention of the daily recovery points."
  type        = number
  default     = 35
}

variable "hourly_retention_days" {
  description = "Retention of the hourly recovery points (journals change with every order)."
  type        = number
  default     = 2
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
