variable "name_prefix" {
  description = "Secret name prefix, e.g. arbiter/staging; the application's secrets backend URI is aws:?prefix=<name_prefix>/."
  type        = string
}

variable "tenants" {
  description = "Tenant ids that get one secret per venue (tenants/<tenant>/<venue>); empty when venue credentials live in the encrypted credential store instead."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.tenants : can(regex("^[a-z0-9][a-z0-9-]{0,62}$", t))])
    error_message = "Tenant ids are lowercase letters, digits and dashes (max 63 chars)."
  }
}

variable "venues" {
  description = "Venues a tenant holds credentials for."
  type        = list(string)
  default     = ["kalshi", "polymarket"]
}

variable "kms_key_arn" {
  description = "Customer-managed key that encrypts the secrets."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
