variable "name" {
  description = "Prefix for every resource name, e.g. helix-prod."
  type        = string
}

variable "vpc_id" {
  description = "The network module's VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The Lambdas' security group: the only one admitted on 5432."
  type        = string
}

variable "engine_version" {
  description = "Aurora PostgreSQL version; it must ship pgvector (15.4+, 16.x, 17.x do)."
  type        = string
  default     = "16.8"
}

variable "database_name" {
  description = "The database Helix uses."
  type        = string
  default     = "helix"
}

variable "master_username" {
  description = "The master user; the migrations need it (CREATE EXTENSION vector)."
  type        = string
  default     = "helix"
}

variable "master_password" {
  description = "The master password: write-only, never stored in state or plan."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "master_password_version" {
  description = "Bump to send a new master_password to RDS and the credentials secret."
  type        = number
}

variable "min_capacity" {
  description = "Serverless v2 floor in ACUs (0 pauses an idle cluster, with a cold first query)."
  type        = number
  default     = 0.5
}

variable "max_capacity" {
  description = "Serverless v2 ceiling in ACUs; it also sets max_connections."
  type        = number
  default     = 4
}

variable "instance_count" {
  description = "db.serverless instances: 1 writer, plus readers in other zones for fail-over."
  type        = number
  default     = 1
}

variable "backup_retention_days" {
  description = "Automated backup (point-in-time restore) window."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster (turn off deliberately before destroying an environment)."
  type        = bool
  default     = true
}

variable "enable_proxy" {
  description = "Put RDS Proxy in front of the cluster, against Lambda connection storms."
  type        = bool
  default     = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted credentials secret can be restored."
  type        = number
  default     = 7
}
