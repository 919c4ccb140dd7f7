# AWS Backup: recovery points that survive the deletion of what they protect (a dropped cluster, a
# lost volume), in a vault encrypted with the environment key. Each protected module adds its own
# resource to the plan (aws_backup_selection next to the resource), so nothing is protected by
# accident of wiring. Aurora also keeps its own automated snapshots; the journal volume has only
# these.

resource "aws_backup_vault" "this" {
  name        = var.name
  kms_key_arn = var.kms_key_arn
  tags        = var.tags
}

resource "aws_backup_plan" "this" {
  name = var.name
  tags = var.tags

  rule {
    rule_name         = "hourly"
    target_vault_name = aws_backup_vault.this.name
    schedule          = "cron(0 * * * ? *)"

    lifecycle {
      delete_after = var.hourly_retention_days
    }
  }

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.this.name
    schedule          = "cron(0 4 * * ? *)"

    lifecycle {
      delete_after = var.daily_retention_days
    }
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  name               = "${var.name}-backup"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "backup" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
}

resource "aws_iam_role_policy_attachment" "restore" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
}
