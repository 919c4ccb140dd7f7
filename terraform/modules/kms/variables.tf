variable "name" {
  description = "Prefix for every resource name, e.g. arbiter-staging."
  type        = string
}

variable "log_group_prefix" {
  description = "CloudWatch Logs group prefix the key may encrypt, e.g. /arbiter/staging."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
