output "sam_parameter_overrides" {
  description = "Everything infra/sam/template.yaml needs: sam deploy --parameter-overrides \"$(terraform output -raw sam_parameter_overrides)\"."
  value = join(" ", [
    "Environment=${var.environment}",
    "LogLevel=${var.log_level}",
    "HelixSecretArn=${module.secrets.secret_arn}",
    "HelixSecretKmsKeyArn=${module.secrets.kms_key_arn}",
    "LambdaSubnetIds=${join(",", module.network.private_subnet_ids)}",
    "LambdaSecurityGroupId=${module.network.lambda_security_group_id}",
    "AvatarBucketName=${module.avatars.bucket_name}",
    "ApiAccessLogGroupArn=${module.observability.api_access_log_group_arn}",
    "WebOrigin=${module.web.origin}",
    # "on" once the distribution routes the API: SAM's ApiUrl (the web app's API base) is then the web origin.
    "ApiThroughCloudFront=${var.api_origins == null ? "off" : "on"}",
    "ReconcileRepair=${var.reconcile_repair}",
    "EmbeddingProvider=${var.embedding_provider}",
    "ReservedConcurrency=${var.reserved_concurrency}",
    "BudgetAlertTopicArn=${module.observability.budget_alert_topic_arn}",
    "BudgetAlertKeyArn=${module.observability.logs_kms_key_arn}",
  ])
}

output "helix_secret_arn" {
  description = "HELIX_SECRET_ID."
  value       = module.secrets.secret_arn
}

output "helix_secret_name" {
  description = "The Helix secret's name."
  value       = module.secrets.secret_name
}

output "web_bucket" {
  description = "Where web/dist is synced."
  value       = module.web.bucket_name
}

output "web_distribution_id" {
  description = "CloudFront distribution to invalidate after a web upload."
  value       = module.web.distribution_id
}

output "web_origin" {
  description = "The web app's URL."
  value       = module.web.origin
}

output "avatar_bucket" {
  description = "HELIX_AVATAR_BUCKET."
  value       = module.avatars.bucket_name
}

output "database_endpoint" {
  description = "Where DATABASE_URL points (RDS Proxy or the cluster writer)."
  value       = module.database.endpoint
}

output "database_cluster_identifier" {
  description = "The Aurora cluster (for snapshots and restores)."
  value       = module.database.cluster_identifier
}

output "database_credentials_secret_arn" {
  description = "Master username and password."
  value       = module.database.credentials_secret_arn
}

output "alarm_topic_arn" {
  description = "SNS topic for alarms."
  value       = module.observability.alarm_topic_arn
}
