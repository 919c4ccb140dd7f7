# Metrics: Ray nodes remote-write Prometheus metrics (Ray's own plus arbiter's) to an Amazon
# Managed Prometheus workspace. Logs: one CloudWatch group for the cluster. Alarms: one SNS topic.

resource "aws_cloudwatch_log_group" "ray" {
  name              = "${var.log_group_prefix}/ray"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "prometheus" {
  name              = "/aws/vendedlogs/${var.name}/prometheus"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_prometheus_workspace" "this" {
  alias       = var.name
  kms_key_arn = var.kms_key_arn

  logging_configuration {
    log_group_arn = "${aws_cloudwatch_log_group.prometheus.arn}:*"
  }

  tags = var.tags
}

# Alerting rules: the cluster's own (rules/*.yml) and the engine's (var.rule_files, the same files
# promtool tests and docs/reference/metrics.md renders).
resource "aws_prometheus_rule_group_namespace" "this" {
  for_each     = fileset("${path.module}/rules", "*.yml")
  name         = trimsuffix(each.value, ".yml")
  workspace_id = aws_prometheus_workspace.this.id
  data         = file("${path.module}/rules/${each.value}")
}

resource "aws_prometheus_rule_group_namespace" "extra" {
  for_each     = var.rule_files
  name         = each.key
  workspace_id = aws_prometheus_workspace.this.id
  data         = each.value
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# Firing alerts go to the alarm topic (and from there to the subscribed addresses).
resource "aws_prometheus_alert_manager_definition" "this" {
  workspace_id = aws_prometheus_workspace.this.id
  definition = yamlencode({
    alertmanager_config = yamlencode({
      route = {
        receiver        = "sns"
        group_by        = ["alertname", "tenant", "venue"]
        repeat_interval = "1h"
      }
      receivers = [{
        name = "sns"
        sns_configs = [{
          topic_arn = aws_sns_topic.alarms.arn
          sigv4     = { region = data.aws_region.current.name }
        }]
      }]
    })
  })
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "ManagedPrometheusAlertsPublish"
    actions   = ["sns:Publish", "sns:GetTopicAttributes"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["aps.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}
