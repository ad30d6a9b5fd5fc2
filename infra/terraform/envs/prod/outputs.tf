output "sam_parameter_overrides" {
  description = "sam deploy --parameter-overrides \"$(terraform output -raw sam_parameter_overrides)\""
  value       = module.helix.sam_parameter_overrides
}

output "helix_secret_name" {
  description = "The Helix secret (aws secretsmanager describe-secret --secret-id ...)."
  value       = module.helix.helix_secret_name
}

output "web_bucket" {
  description = "Where the deploy workflow syncs web/dist."
  value       = module.helix.web_bucket
}

output "web_distribution_id" {
  description = "CloudFront distribution invalidated after each web upload."
  value       = module.helix.web_distribution_id
}

output "web_origin" {
  description = "The web app's URL."
  value       = module.helix.web_origin
}

output "database_endpoint" {
  description = "Where DATABASE_URL points."
  value       = module.helix.database_endpoint
}

output "database_cluster_identifier" {
  description = "The Aurora cluster (snapshots, point-in-time restore)."
  value       = module.helix.database_cluster_identifier
}

output "alarm_topic_arn" {
  description = "SNS topic for alarms."
  value       = module.helix.alarm_topic_arn
}
