# Database: Aurora PostgreSQL Serverless v2 in the private subnets, encrypted with its own key. The master
# password is write-only (Terraform 1.11+): it reaches RDS and Secrets Manager but never the state.
# pgvector is enabled by the first migration (db-migrate), not here.

data "aws_partition" "current" {}

module "key" {
  source      = "../kms"
  description = "${var.name}: Aurora storage, Performance Insights and the credentials secret"
  alias       = "${var.name}-database"
}

moved {
  from = aws_kms_key.database
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.database
  to   = module.key.aws_kms_alias.this
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "Aurora PostgreSQL: only the Helix Lambdas (and RDS Proxy) connect"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-database" }
}

resource "aws_vpc_security_group_ingress_rule" "from_lambda" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the Helix Lambdas"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = var.client_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_database" {
  security_group_id            = var.client_security_group_id
  description                  = "PostgreSQL to Aurora or RDS Proxy"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.database.id
}

# RDS Proxy sits in the same group; it reaches the cluster through this self-reference.
resource "aws_vpc_security_group_ingress_rule" "from_proxy" {
  count                        = var.enable_proxy ? 1 : 0
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from RDS Proxy"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.database.id
}

resource "aws_vpc_security_group_egress_rule" "proxy_to_cluster" {
  count                        = var.enable_proxy ? 1 : 0
  security_group_id            = aws_security_group.database.id
  description                  = "RDS Proxy to the cluster"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.database.id
}

# TLS only, DDL statements and slow queries (over 1 s) in the exported PostgreSQL log.
resource "aws_rds_cluster_parameter_group" "this" {
  name_prefix = "${var.name}-"
  family      = "aurora-postgresql${split(".", var.engine_version)[0]}"
  description = "Helix: TLS only, DDL and slow-query logging"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_rds_cluster" "this" {
  # checkov:skip=CKV_AWS_139: deletion_protection is a variable: prod turns it on, dev leaves it off so a throwaway environment can be destroyed.
  # checkov:skip=CKV2_AWS_8: Aurora's automated backups give point-in-time restore over backup_retention_days; an AWS Backup vault (cross-account copies) is an organisation-wide choice outside this module.
  cluster_identifier = var.name
  engine             = "aurora-postgresql"
  engine_mode        = "provisioned" # Serverless v2 is "provisioned" with db.serverless instances
  engine_version     = var.engine_version
  database_name      = var.database_name
  master_username    = var.master_username

  master_password_wo         = var.master_password
  master_password_wo_version = var.master_password_version

  db_subnet_group_name            = aws_db_subnet_group.this.name
  vpc_security_group_ids          = [aws_security_group.database.id]
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.this.name
  port                            = 5432

  storage_encrypted                   = true
  kms_key_id                          = module.key.key_arn
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]

  backup_retention_period      = var.backup_retention_days
  preferred_backup_window      = "03:00-04:00"
  preferred_maintenance_window = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot        = true
  deletion_protection          = var.deletion_protection
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${var.name}-final"

  serverlessv2_scaling_configuration {
    min_capacity = var.min_capacity
    max_capacity = var.max_capacity
  }
}

resource "aws_rds_cluster_instance" "this" {
  count              = var.instance_count
  identifier         = "${var.name}-${count.index}"
  cluster_identifier = aws_rds_cluster.this.id
  instance_class     = "db.serverless"
  engine             = aws_rds_cluster.this.engine
  engine_version     = aws_rds_cluster.this.engine_version

  db_subnet_group_name       = aws_db_subnet_group.this.name
  publicly_accessible        = false
  auto_minor_version_upgrade = true

  performance_insights_enabled    = true
  performance_insights_kms_key_id = module.key.key_arn
  monitoring_interval             = 60
  monitoring_role_arn             = aws_iam_role.monitoring.arn
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name_prefix        = "${var.name}-rds-monitoring-"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# ------------------------------------------------------------------ credentials in Secrets Manager

# {"username","password"}: the shape RDS Proxy authenticates with, and what an operator uses with psql.
resource "aws_secretsmanager_secret" "credentials" {
  # checkov:skip=CKV2_AWS_57: The password is set write-only from the operator's input and also lives in the Helix secret's DATABASE_URL; rotate both together by bumping master_password_version (docs/deploy.md).
  name_prefix             = "${var.name}-db-credentials-"
  description             = "Aurora master credentials for ${var.name}"
  kms_key_id              = module.key.key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "credentials" {
  secret_id = aws_secretsmanager_secret.credentials.id
  secret_string_wo = jsonencode({
    username = var.master_username
    password = var.master_password
  })
  secret_string_wo_version = var.master_password_version
}

# ------------------------------------------------------------------ optional RDS Proxy

data "aws_iam_policy_document" "proxy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "proxy_read_secret" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.credentials.arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [module.key.key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

data "aws_region" "current" {}

resource "aws_iam_role" "proxy" {
  count              = var.enable_proxy ? 1 : 0
  name_prefix        = "${var.name}-rds-proxy-"
  assume_role_policy = data.aws_iam_policy_document.proxy_assume.json
}

resource "aws_iam_role_policy" "proxy" {
  count  = var.enable_proxy ? 1 : 0
  role   = aws_iam_role.proxy[0].id
  policy = data.aws_iam_policy_document.proxy_read_secret.json
}

resource "aws_db_proxy" "this" {
  count                  = var.enable_proxy ? 1 : 0
  name                   = var.name
  engine_family          = "POSTGRESQL"
  role_arn               = aws_iam_role.proxy[0].arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [aws_security_group.database.id]
  require_tls            = true
  idle_client_timeout    = 1800

  auth {
    auth_scheme = "SECRETS"
    iam_auth    = "DISABLED"
    secret_arn  = aws_secretsmanager_secret.credentials.arn
  }
}

resource "aws_db_proxy_default_target_group" "this" {
  count         = var.enable_proxy ? 1 : 0
  db_proxy_name = aws_db_proxy.this[0].name

  connection_pool_config {
    max_connections_percent      = 90
    max_idle_connections_percent = 10
    connection_borrow_timeout    = 5
  }
}

resource "aws_db_proxy_target" "this" {
  count                 = var.enable_proxy ? 1 : 0
  db_proxy_name         = aws_db_proxy.this[0].name
  target_group_name     = aws_db_proxy_default_target_group.this[0].name
  db_cluster_identifier = aws_rds_cluster.this.cluster_identifier
}
