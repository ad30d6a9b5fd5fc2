# Secrets: the one Helix secret every function reads at cold start (HELIX_SECRET_ID), a JSON object of
# configuration keys. Its value is written write-only from ephemeral inputs: no value is ever in the state,
# the plan, or this repository. The operator supplies them (TF_VAR_*, see docs/deploy.md).

module "key" {
  source      = "../kms"
  description = "${var.name}: the Helix secret"
  alias       = "${var.name}-secret"
}

moved {
  from = aws_kms_key.secret
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.secret
  to   = module.key.aws_kms_alias.this
}

resource "aws_secretsmanager_secret" "helix" {
  # checkov:skip=CKV2_AWS_57: Helix reads the secret once per cold start and has no rotation Lambda; rotate by supplying new values and bumping secret_version (docs/deploy.md), which also keeps DATABASE_URL in step with the database password.
  name                    = var.secret_name
  description             = "Helix configuration (JWT secret, edge secret, passcode hashes, DATABASE_URL, provider keys)"
  kms_key_id              = module.key.key_arn
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
    DATABASE_URL      = "postgres://${var.database_username}:${urlencode(var.database_password)}@${var.database_host}:${var.database_port}/${var.database_name}?sslmode=require"
    JWT_SECRET        = var.jwt_secret
    MASTER_PASS_HASH  = var.master_pass_hash
    HELIX_EDGE_SECRET = var.edge_secret
  }))
  secret_string_wo_version = var.secret_version
}
