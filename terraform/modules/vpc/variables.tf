variable "name" {
  description = "Prefix for every resource name, e.g. arbiter-staging."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR block; private subnets take the lower /20s, public (NAT only) the upper."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.cidr))
    error_message = "cidr must be an IPv4 CIDR block such as 10.40.0.0/16."
  }
}

variable "azs" {
  description = "Availability zones, one private and one public subnet each."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2 && length(var.azs) <= 4
    error_message = "Use 2 to 4 availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (staging) instead of one per AZ (production)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer-managed key for the flow-log group."
  type        = string
}

variable "log_group_prefix" {
  description = "CloudWatch Logs prefix, e.g. /arbiter/staging."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of VPC flow logs."
  type        = number
  default     = 365
}

variable "interface_endpoints" {
  description = "AWS services reached through private interface endpoints instead of the NAT."
  type        = list(string)
  default     = ["secretsmanager", "kms", "logs", "monitoring", "sts", "ssm", "ssmmessages", "ec2messages", "ecr.api", "ecr.dkr", "aps-workspaces"]
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
