# One role for every Ray node: each statement names the exact resource it touches. Tenant
# isolation inside the cluster is the application's job (credential envelopes, PostgreSQL RLS
# with per-tenant login roles); IAM bounds what a compromised node can reach: these secrets, this
# key (only through Secrets Manager), these metrics, this log group, this image, this volume.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ray_node" {
  name               = "${var.name}-ray-node"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = var.tags
}

resource "aws_iam_instance_profile" "ray_node" {
  name = "${var.name}-ray-node"
  role = aws_iam_role.ray_node.name
  tags = var.tags
}

data "aws_iam_policy_document" "ray_node" {
  statement {
    sid       = "ReadTenantCredentials"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.secret_arns
  }

  statement {
    sid       = "DecryptSecretsOnly"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }

  # The Ray head writes the cluster token on its first boot (modules/ray_cluster node.sh): one
  # secret, and the key only to encrypt that write through Secrets Manager.
  statement {
    sid       = "WriteRayAuthToken"
    actions   = ["secretsmanager:PutSecretValue"]
    resources = [var.ray_auth_token_secret_arn]
  }

  statement {
    sid       = "EncryptRayAuthTokenOnly"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = [var.ray_auth_token_secret_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.db_users) > 0 ? [1] : []
    content {
      sid     = "ConnectToDatabaseWithIam"
      actions = ["rds-db:connect"]
      resources = [
        for user in var.db_users :
        "arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:dbuser:${var.db_cluster_resource_id}/${user}"
      ]
    }
  }

  statement {
    sid       = "RemoteWriteMetrics"
    actions   = ["aps:RemoteWrite"]
    resources = [var.prometheus_workspace_arn]
  }

  statement {
    sid       = "ShipLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.log_group_arn}:*"]
  }

  statement {
    sid       = "PullRayImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [var.ecr_repository_arn]
  }

  # Only to an instance tagged as the arbiter node (the volume carries the same tag).
  statement {
    sid     = "AttachJournalVolumeToArbiterNode"
    actions = ["ec2:AttachVolume"]
    resources = [
      var.journal_volume_arn,
      "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:instance/*",
    ]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/RayNodeClass"
      values   = ["arbiter"]
    }
  }

  # ecr:GetAuthorizationToken has no resource type in IAM: "*" is the only valid scope.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "ray_node" {
  name        = "${var.name}-ray-node"
  description = "Least privilege for arbiter Ray nodes"
  policy      = data.aws_iam_policy_document.ray_node.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "ray_node" {
  role       = aws_iam_role.ray_node.name
  policy_arn = aws_iam_policy.ray_node.arn
}

# Operators reach nodes with SSM Session Manager: no SSH keys, no bastion, no inbound port 22.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.ray_node.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
