variable "environment" {
  description = "Environment name; part of every resource name."
  type        = string
  default     = "production"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "azs" {
  description = "Availability zones."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]
}

variable "vpc_cidr" {
  description = "VPC CIDR block."
  type        = string
  default     = "10.50.0.0/16"
}

variable "tenants" {
  description = "Tenants that get per-venue Secrets Manager secrets; leave empty when venue credentials live in the encrypted credential store (master-key secret only)."
  type        = list(string)
  default     = []
}

variable "image_tag" {
  description = "Tag of the Ray node image in the environment's ECR repository (immutable)."
  type        = string
}

variable "operator_cidrs" {
  description = "VPN CIDRs allowed to reach the dashboard/job API; empty means SSM port forwarding only."
  type        = list(string)
  default     = []
}

variable "alarm_emails" {
  description = "Addresses that receive alarms."
  type        = list(string)
  default     = []
}
