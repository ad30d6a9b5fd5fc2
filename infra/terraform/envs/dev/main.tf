# dev: the smallest Helix that behaves like prod: one NAT gateway, one Aurora instance scaling from
# 0.5 ACU, no RDS Proxy, short log retention, and a cluster that may be destroyed.

module "helix" {
  source = "../../modules/helix"

  environment = "dev"

  single_nat_gateway       = true
  db_min_capacity          = 0.5
  db_max_capacity          = 2
  db_instance_count        = 1
  db_deletion_protection   = false
  db_backup_retention_days = 1
  enable_rds_proxy         = false
  log_retention_days       = 14
  alarm_email              = var.alarm_email
  log_level                = "info,helix_shared=debug"
  reconcile_repair         = "off"
  embedding_provider       = "bedrock"
  # New accounts start with a concurrency quota of 10, too small to reserve any.
  reserved_concurrency = "off"

  web_domain_aliases      = var.web_domain_aliases
  web_acm_certificate_arn = var.web_acm_certificate_arn
  # The SAM stack's output ApiOrigins (terraform.tfvars): CloudFront then routes the API on the web origin.
  api_origins = var.api_origins

  secrets_version      = var.secrets_version
  db_password          = var.db_password
  jwt_secret           = var.jwt_secret
  edge_secret          = var.edge_secret
  master_pass_hash     = var.master_pass_hash
  fnbo_pass_hash       = var.fnbo_pass_hash
  extra_passcodes_json = var.extra_passcodes_json
  openai_api_key       = var.openai_api_key
  anthropic_api_key    = var.anthropic_api_key
}
