# prod: a NAT gateway and an Aurora instance per zone (a zone outage costs neither provider calls nor
# the database), RDS Proxy against connection storms, deletion protection, longer backups and logs.

module "helix" {
  source = "../../modules/helix"

  environment = "prod"

  single_nat_gateway       = false
  db_min_capacity          = 0.5
  db_max_capacity          = 8
  db_instance_count        = 2
  db_deletion_protection   = true
  db_backup_retention_days = 14
  enable_rds_proxy         = true
  log_retention_days       = 90
  alarm_email              = var.alarm_email
  log_level                = "info"
  reconcile_repair         = "off"
  embedding_provider       = "bedrock"
  reserved_concurrency     = "on"

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
