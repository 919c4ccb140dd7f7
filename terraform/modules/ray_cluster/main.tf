# A Ray cluster on plain EC2: one head instance at a fixed private IP and one Auto Scaling group
# per node class. Each class advertises its Ray custom resource (monitor_node, arbiter_node,
# risk_node, executor_node; head_node on the head), which is how the live engine pins actors to
# node classes (docs/adr/0051-ray-on-ec2-node-groups.md).

data "aws_region" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

# The journal volume lives in one AZ, so the arbiter node group is pinned to this subnet.
data "aws_subnet" "journal" {
  id = var.subnet_ids[0]
}

locals {
  registry     = split("/", var.image)[0]
  head_address = "${var.head_private_ip}:6379"
  common = {
    region      = data.aws_region.current.name
    registry    = local.registry
    image       = var.image
    log_group   = var.log_group_name
    environment = var.environment
    shm_size    = "4g"
    data_dir    = "/var/lib/arbiter"
    secrets_uri = var.secrets_backend_uri
    ray_token   = var.ray_auth_token_secret_arn
  }
}

# --- The arbiter's data volume ---------------------------------------------------------------

# The arbiter actor writes every tenant's execution journal (SQLite, fsync per order intent) before
# each side effect; recovery after a crash reads it back. The volume outlives the instance: a
# replaced arbiter node attaches the same volume at boot and recovers from it.
resource "aws_ebs_volume" "journal" {
  availability_zone = data.aws_subnet.journal.availability_zone
  size              = var.journal_volume_gb
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.kms_key_arn
  tags              = merge(var.tags, { Name = "${var.name}-journal", RayNodeClass = "arbiter" })

  lifecycle {
    prevent_destroy = true
  }
}

# --- Network -------------------------------------------------------------------------------

resource "aws_security_group" "ray" {
  name        = "${var.name}-ray"
  description = "Ray cluster members: all traffic among themselves, HTTPS out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-ray" })

  ingress {
    description = "Ray GCS, object manager, raylets and workers between cluster members"
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    self        = true
  }

  dynamic "ingress" {
    for_each = length(var.operator_cidrs) > 0 ? [8265, 10001] : []
    content {
      description = "Dashboard/job API and Ray client from operator VPN"
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = var.operator_cidrs
    }
  }

  egress {
    description = "Ray traffic between cluster members"
    from_port   = 0
    to_port     = 65535
    protocol    = "tcp"
    self        = true
  }

  egress {
    description = "Venue APIs and WebSockets (Kalshi, Polymarket), AWS endpoints and the Amazon Linux package repositories, all over HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "Aurora PostgreSQL inside the VPC"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

# --- Head ----------------------------------------------------------------------------------

resource "aws_instance" "head" {
  ami                         = data.aws_ssm_parameter.ami.value
  instance_type               = var.head_instance_type
  subnet_id                   = var.head_subnet_id
  private_ip                  = var.head_private_ip
  vpc_security_group_ids      = [aws_security_group.ray.id]
  iam_instance_profile        = var.instance_profile_name
  associate_public_ip_address = false
  monitoring                  = true
  ebs_optimized               = true
  user_data_replace_on_change = true

  user_data = templatefile("${path.module}/templates/node.sh.tftpl", merge(local.common, {
    node_class        = "head"
    is_head           = true
    head_address      = local.head_address
    resources_json    = jsonencode({ head_node = 1 })
    journal_volume_id = ""
  }))

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_gb
    encrypted   = true
    kms_key_id  = var.kms_key_arn
  }

  tags = merge(var.tags, { Name = "${var.name}-ray-head", RayNodeClass = "head" })

  lifecycle {
    ignore_changes = [ami]
  }
}

# The head holds the GCS: EC2 auto-recovery moves it to healthy hardware with the same private IP,
# so workers rejoin without new configuration.
resource "aws_cloudwatch_metric_alarm" "head_recover" {
  alarm_name          = "${var.name}-ray-head-recover"
  alarm_description   = "Recover the Ray head when its host fails status checks"
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_System"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  dimensions          = { InstanceId = aws_instance.head.id }
  alarm_actions       = ["arn:aws:automate:${data.aws_region.current.name}:ec2:recover", var.alarm_topic_arn]
  tags                = var.tags
}

# --- Worker node groups, one per node class --------------------------------------------------

resource "aws_launch_template" "worker" {
  for_each               = var.node_groups
  name                   = "${var.name}-ray-${each.key}"
  image_id               = data.aws_ssm_parameter.ami.value
  instance_type          = each.value.instance_type
  ebs_optimized          = true
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.ray.id]

  user_data = base64encode(templatefile("${path.module}/templates/node.sh.tftpl", merge(local.common, {
    node_class        = each.key
    is_head           = false
    head_address      = local.head_address
    resources_json    = jsonencode({ "${each.key}_node" = each.value.resource_units })
    journal_volume_id = each.key == "arbiter" ? aws_ebs_volume.journal.id : ""
  })))

  iam_instance_profile {
    name = var.instance_profile_name
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_gb
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-ray-${each.key}", RayNodeClass = each.key })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { RayNodeClass = each.key })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "worker" {
  for_each                  = var.node_groups
  name                      = "${var.name}-ray-${each.key}"
  vpc_zone_identifier       = each.key == "arbiter" ? [data.aws_subnet.journal.id] : var.subnet_ids
  min_size                  = each.value.min_size
  max_size                  = each.value.max_size
  desired_capacity          = each.value.desired_size
  health_check_type         = "EC2"
  health_check_grace_period = 300
  default_instance_warmup   = 120

  launch_template {
    id      = aws_launch_template.worker[each.key].id
    version = aws_launch_template.worker[each.key].latest_version
  }

  # Replace nodes gradually when the image or user-data changes.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-ray-${each.key}", RayNodeClass = each.key })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_backup_selection" "journal" {
  name         = "${var.name}-journal"
  plan_id      = var.backup_plan_id
  iam_role_arn = var.backup_role_arn
  resources    = [aws_ebs_volume.journal.arn]
}
