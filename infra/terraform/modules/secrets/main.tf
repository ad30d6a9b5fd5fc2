# Secrets: the one Helix secret every function reads at cold start (HELIX_SECRET_ID), a JSON object of
# configuration keys. Its value is written write-only from ephemeral inputs: no value is ever in the state,
# the plan, or this repository. The operator supplies them (TF_VAR_*, see docs/deploy.md).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_kms_key" "secret" {
  description             = "${var.name}: the Helix secret"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.secret_key.json
}

data "aws_iam_policy_document" "secret_key" {
  # checkov:skip=CKV_AWS_109: A key policy's "*" resource is the key itself; the account root statement is AWS's default key policy, so IAM policies decide who uses the key.
  # checkov:skip=CKV_AWS_111: Same key-policy statement: "*" is this key only, administered by the account through IAM.
  # checkov:skip=CKV_AWS_356: Same key-policy statement: a key policy cannot name narrower resources than its own key.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_alias" "secret" {
  name          = "alias/${var.name}-secret"
  target_key_id = aws_kms_key.secret.key_id
}

resource "aws_secretsmanager_secret" "helix" {
  # checkov:skip=CKV2_AWS_57: Helix reads the secret once per cold start and has no rotation Lambda; rotate by supplying new values and bumping secret_version (docs/deploy.md), which also keeps DATABASE_URL in step with the database password.
  name                    = var.secret_name
  description             = "Helix configuration (JWT secret, passcode hashes, DATABASE_URL, provider keys)"
  kms_key_id              = aws_kms_key.secret.arn
  recovery_window_in_days = var.recovery_window_days
}

locals {
  # Optional keys are left out when not supplied (null, or empty as an unset CI secret arrives), so the
  # secret never carries empty values.
  optional_entries = {
    for key, value in {
      FNBO_PASS_HASH    = var.fnbo_pass_hash
      HELIX_PASSCODES   = var.extra_passcodes_json
      OPENAI_API_KEY    = var.openai_api_key
      ANTHROPIC_API_KEY = var.anthropic_api_key
    } : key => value if value != null && value != ""
  }
}

resource "aws_secretsmanager_secret_version" "helix" {
  secret_id = aws_secretsmanager_secret.helix.id
  secret_string_wo = jsonencode(merge(local.optional_entries, {
    DATABASE_URL     = "postgres://${var.database_username}:${urlencode(var.database_password)}@${var.database_host}:${var.database_port}/${var.database_name}?sslmode=require"
    JWT_SECRET       = var.jwt_secret
    MASTER_PASS_HASH = var.master_pass_hash
  }))
  secret_string_wo_version = var.secret_version
}
