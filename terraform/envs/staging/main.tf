# Staging: same modules as production, smaller and cheaper (two AZs, one NAT gateway, one Aurora
# instance, one node per class). Venue credentials here are demo/sandbox keys.

locals {
  name             = "arbiter-${var.environment}"
  log_group_prefix = "/arbiter/${var.environment}"
  tags             = { Service = "arbiter" }
}

module "kms" {
  source           = "../../modules/kms"
  name             = local.name
  log_group_prefix = local.log_group_prefix
  tags             = local.tags
}

module "vpc" {
  source             = "../../modules/vpc"
  name               = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  single_nat_gateway = true
  kms_key_arn        = module.kms.key_arn
  log_group_prefix   = local.log_group_prefix
  tags               = local.tags
}

module "registry" {
  source      = "../../modules/registry"
  name        = "${local.name}/ray-node"
  kms_key_arn = module.kms.key_arn
  tags        = local.tags
}

module "secrets" {
  source      = "../../modules/secrets"
  name_prefix = "arbiter/${var.environment}"
  tenants     = var.tenants
  kms_key_arn = module.kms.key_arn
  tags        = local.tags
}

module "observability" {
  source           = "../../modules/observability"
  name             = local.name
  log_group_prefix = local.log_group_prefix
  kms_key_arn      = module.kms.key_arn
  alarm_emails     = var.alarm_emails
  tags             = local.tags

  # The engine's alert rules, the same file promtool tests (tests/ops/observability).
  rule_files = {
    arbiter = file("${path.module}/../../../cluster/prometheus/alerts.yml")
  }
}

module "aurora" {
  source                    = "../../modules/aurora"
  name                      = local.name
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = [module.ray_cluster.security_group_id]
  kms_key_arn               = module.kms.key_arn
  backup_plan_id            = module.backup.plan_id
  backup_role_arn           = module.backup.role_arn
  instance_class            = "db.t4g.medium"
  instance_count            = 1
  backup_retention_days     = 7
  tags                      = local.tags
}

module "backup" {
  source               = "../../modules/backup"
  name                 = local.name
  kms_key_arn          = module.kms.key_arn
  daily_retention_days = 14
  tags                 = local.tags
}

module "iam" {
  source                    = "../../modules/iam"
  name                      = local.name
  secret_arns               = values(module.secrets.secret_arns)
  ray_auth_token_secret_arn = module.secrets.ray_auth_token_arn
  kms_key_arn               = module.kms.key_arn
  db_cluster_resource_id    = module.aurora.cluster_resource_id
  prometheus_workspace_arn  = module.observability.prometheus_workspace_arn
  log_group_arn             = module.observability.log_group_arn
  ecr_repository_arn        = module.registry.repository_arn
  journal_volume_arn        = module.ray_cluster.journal_volume_arn
  tags                      = local.tags
}

module "ray_cluster" {
  source                    = "../../modules/ray_cluster"
  name                      = local.name
  environment               = var.environment
  vpc_id                    = module.vpc.vpc_id
  vpc_cidr                  = module.vpc.vpc_cidr
  subnet_ids                = module.vpc.private_subnet_ids
  head_subnet_id            = module.vpc.private_subnet_ids[0]
  head_private_ip           = cidrhost(module.vpc.private_subnet_cidrs[0], 10)
  head_instance_type        = "m7i.large"
  image                     = "${module.registry.repository_url}:${var.image_tag}"
  instance_profile_name     = module.iam.instance_profile_name
  kms_key_arn               = module.kms.key_arn
  log_group_name            = module.observability.log_group_name
  alarm_topic_arn           = module.observability.alarm_topic_arn
  backup_plan_id            = module.backup.plan_id
  backup_role_arn           = module.backup.role_arn
  secrets_backend_uri       = module.secrets.backend_uri
  ray_auth_token_secret_arn = module.secrets.ray_auth_token_arn
  operator_cidrs            = var.operator_cidrs
  tags                      = local.tags

  node_groups = {
    monitor  = { instance_type = "c7i.large", min_size = 1, max_size = 2, desired_size = 1, resource_units = 1 }
    arbiter  = { instance_type = "c7i.large", min_size = 1, max_size = 1, desired_size = 1, resource_units = 1 }
    risk     = { instance_type = "m7i.large", min_size = 1, max_size = 1, desired_size = 1, resource_units = 1 }
    executor = { instance_type = "m7i.large", min_size = 1, max_size = 2, desired_size = 1, resource_units = 1 }
  }
}
