output "endpoint" {
  description = "Where the functions connect: RDS Proxy when enabled, else the cluster's writer."
  value       = var.enable_proxy ? aws_db_proxy.this[0].endpoint : aws_rds_cluster.this.endpoint
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_rds_cluster.this.port
}

output "database_name" {
  description = "The Helix database."
  value       = aws_rds_cluster.this.database_name
}

output "master_username" {
  description = "The master user in DATABASE_URL."
  value       = aws_rds_cluster.this.master_username
}

output "cluster_arn" {
  description = "The Aurora cluster."
  value       = aws_rds_cluster.this.arn
}

output "cluster_identifier" {
  description = "The Aurora cluster's name (snapshots, restores)."
  value       = aws_rds_cluster.this.cluster_identifier
}

output "credentials_secret_arn" {
  description = "Secret with the master username and password."
  value       = aws_secretsmanager_secret.credentials.arn
}
