# One customer-managed key per environment: EBS volumes, Aurora storage and Performance Insights,
# Secrets Manager, CloudWatch Logs, SNS, ECR, AWS Backup and the Prometheus workspace all encrypt
# with it, so revoking or auditing "who can read arbiter data" is one key policy.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition
  # Created by AWS on first Auto Scaling use (or `aws iam create-service-linked-role
  # --aws-service-name autoscaling.amazonaws.com`); it launches the Ray workers, so it must be able
  # to use the key for their encrypted EBS volumes.
  autoscaling_role = "arn:${local.partition}:iam::${local.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:Key policy: Resource "*" means this key only, and the account root must administer it or the key becomes unmanageable.
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" means this key only; write access is limited to the account root and named AWS services.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only valid resource in a KMS key policy and denotes this key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsForArbiterGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${var.log_group_prefix}/*",
        "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/vendedlogs/${var.name}/*",
      ]
    }
  }

  statement {
    sid       = "AlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "aps.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }

  statement {
    sid       = "AutoScalingUsesKeyForWorkerVolumes"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.autoscaling_role]
    }
  }

  statement {
    sid       = "AutoScalingGrantsForAttachedVolumes"
    actions   = ["kms:CreateGrant"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.autoscaling_role]
    }

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: data at rest (EBS, Aurora, secrets, logs, metrics, backups)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
