# The Helix platform for one environment: network, database, secret, web, avatars and observability,
# wired together. envs/dev and envs/prod call it with their own sizes; SAM deploys the functions onto it.

data "aws_region" "current" {}

locals {
  name = "helix-${var.environment}"
  # The functions SAM deploys (infra/sam/template.yaml names each helix-<env>-<name>).
  function_names     = ["auth-verify", "turns", "personas", "agents", "conversations", "budget", "memory", "budget-reconcile", "db-migrate"]
  api_function_names = ["auth-verify", "turns", "personas", "agents", "conversations", "budget", "memory"]
}

module "observability" {
  source = "../observability"

  name                        = local.name
  function_names              = local.function_names
  api_function_names          = local.api_function_names
  manage_api_gateway_log_role = var.manage_api_gateway_log_role
  log_retention_days          = var.log_retention_days
  alarm_email                 = var.alarm_email
  turns_p99_latency_ms        = var.turns_p99_latency_ms
  memory_p99_latency_ms       = var.memory_p99_latency_ms
}

module "network" {
  source = "../network"

  name               = local.name
  cidr_block         = var.vpc_cidr
  az_count           = var.az_count
  enable_nat_gateway = var.enable_nat_gateway
  single_nat_gateway = var.single_nat_gateway
  logs_kms_key_arn   = module.observability.logs_kms_key_arn
}

module "database" {
  source = "../database"

  name                     = local.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.network.lambda_security_group_id
  engine_version           = var.db_engine_version
  min_capacity             = var.db_min_capacity
  max_capacity             = var.db_max_capacity
  instance_count           = var.db_instance_count
  deletion_protection      = var.db_deletion_protection
  backup_retention_days    = var.db_backup_retention_days
  enable_proxy             = var.enable_rds_proxy
  master_password          = var.db_password
  master_password_version  = var.secrets_version
}

module "secrets" {
  source = "../secrets"

  name              = local.name
  secret_name       = "helix/${var.environment}"
  secret_version    = var.secrets_version
  database_host     = module.database.endpoint
  database_port     = module.database.port
  database_name     = module.database.database_name
  database_username = module.database.master_username

  database_password    = var.db_password
  jwt_secret           = var.jwt_secret
  edge_secret          = var.edge_secret
  master_pass_hash     = var.master_pass_hash
  fnbo_pass_hash       = var.fnbo_pass_hash
  extra_passcodes_json = var.extra_passcodes_json
  openai_api_key       = var.openai_api_key
  anthropic_api_key    = var.anthropic_api_key
}

module "web" {
  source = "../web"

  name                = local.name
  domain_aliases      = var.web_domain_aliases
  acm_certificate_arn = var.web_acm_certificate_arn
  api_origin          = "https://*.execute-api.${data.aws_region.current.region}.amazonaws.com"
  avatar_origin       = "https://*.s3.${data.aws_region.current.region}.amazonaws.com"
  web_acl_id          = var.web_acl_arn
  # SAM's APIs on the web origin (the SAM stack output ApiOrigins; null before the first sam deploy).
  api_origins             = var.api_origins
  api_origin_read_timeout = var.api_origin_read_timeout
  # The origin header that lets the functions trust x-helix-viewer-ip (the same value as HELIX_EDGE_SECRET).
  edge_secret = var.edge_secret
}

module "avatars" {
  source = "../avatars"

  name            = local.name
  allowed_origins = [module.web.origin]
}
