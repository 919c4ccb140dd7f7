variable "name" {
  description = "Prefix for every resource name, e.g. arbiter-staging."
  type        = string
}

variable "environment" {
  description = "staging or production; passed to the nodes as ARBITER_ENVIRONMENT."
  type        = string
}

variable "vpc_id" {
  description = "VPC the nodes live in."
  type        = string
}

variable "vpc_cidr" {
  description = "VPC CIDR; egress to PostgreSQL is limited to it."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for worker node groups."
  type        = list(string)
}

variable "head_subnet_id" {
  description = "Private subnet of the head node."
  type        = string
}

variable "head_private_ip" {
  description = "Fixed private IP of the head node inside head_subnet_id (workers join it, and EC2 auto-recovery keeps it)."
  type        = string
}

variable "head_instance_type" {
  description = "Instance type of the head node (GCS, dashboard, job drivers; runs no tasks)."
  type        = string
}

variable "node_groups" {
  description = "One Auto Scaling group per node class; each node advertises the Ray custom resource <class>_node = resource_units (1 is the convention: each actor takes ROLE_SHARE = 0.01 of it, arbiter/engine/placement.py)."
  type = map(object({
    instance_type  = string
    min_size       = number
    max_size       = number
    desired_size   = number
    resource_units = number
  }))

  validation {
    condition     = alltrue([for k in keys(var.node_groups) : contains(["monitor", "arbiter", "risk", "executor"], k)])
    error_message = "node_groups keys must be node classes: monitor, arbiter, risk, executor."
  }

  # The arbiter owns the execution journals on its data volume; two arbiters would fight over it.
  validation {
    condition     = !contains(keys(var.node_groups), "arbiter") || try(var.node_groups["arbiter"].max_size, 1) == 1
    error_message = "The arbiter node group must have max_size = 1 (it owns the journal volume)."
  }
}

variable "image" {
  description = "Ray node image with an immutable tag, e.g. <account>.dkr.ecr.<region>.amazonaws.com/arbiter-staging/ray-node:0.1.0."
  type        = string
}

variable "ami_ssm_parameter" {
  description = "SSM public parameter naming the host AMI (Amazon Linux 2023)."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

variable "instance_profile_name" {
  description = "IAM instance profile of every node (modules/iam)."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed key for the root volumes."
  type        = string
}

variable "log_group_name" {
  description = "CloudWatch log group the node containers log to."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic notified when the head node fails its status checks."
  type        = string
}

variable "operator_cidrs" {
  description = "CIDRs (VPN) allowed to reach the dashboard/job API (8265) and Ray client (10001). Empty: reach them through SSM port forwarding."
  type        = list(string)
  default     = []
}

variable "root_volume_gb" {
  description = "Root volume size of every node (image + object spilling)."
  type        = number
  default     = 100
}

variable "secrets_backend_uri" {
  description = "Secrets backend of the application (ARBITER_SECRETS), e.g. aws:?prefix=arbiter/staging/ (modules/secrets output)."
  type        = string
}

variable "ray_auth_token_secret_arn" {
  description = "Secrets Manager secret holding the Ray cluster token (modules/secrets ray_auth_token_arn): every node starts Ray with RAY_AUTH_MODE=token and this token; the head writes a random one on its first boot."
  type        = string
}

variable "journal_volume_gb" {
  description = "Size of the arbiter node's persistent data volume (SQLite execution journals), mounted at /var/lib/arbiter."
  type        = number
  default     = 50
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
