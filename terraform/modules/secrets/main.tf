# Containers only: Terraform never sees a secret value (it would land in state). Values are
# written by the application (`master-key`: the credential store's key ring, arbiter.security.credentials),
# by the Ray head on its first boot (`ray-auth-token`: a random token, modules/ray_cluster node.sh)
# or by operators with `aws secretsmanager put-secret-value` (docs/operations.md, "Rotation").
# Creating the containers here pins their encryption to the environment's key; a secret the
# application created on first write would use the account's default key instead.

locals {
  tenant_secrets = {
    for pair in setproduct(var.tenants, var.venues) :
    "tenants/${pair[0]}/${pair[1]}" => "${pair[1]} API credentials of tenant ${pair[0]}"
  }
  secrets = merge(
    {
      "master-key"     = "Master key ring of the encrypted credential store (arbiter.security.credentials)"
      "ray-auth-token" = "Ray cluster token (RAY_AUTH_MODE=token): every node, driver and ray job submit presents it; the head writes a random one on its first boot"
    },
    local.tenant_secrets,
  )
}

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:No rotation Lambda can mint these: venue keys are issued in the venue's account UI and the master key ring is rotated by the credential store itself (new version plus re-wrap); the Ray cluster token is replaced by an operator (a new value, then the nodes restarted); these procedures are in docs/operations.md and docs/deployment.md.
  for_each                = local.secrets
  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}
