variable "environment" {
  description = "dev or prod: names every resource helix-<environment>-*."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod (the SAM template's Environment parameter allows those)."
  }
}

# ---------------------------------------------------------------- network
variable "vpc_cidr" {
  description = "The VPC's address range."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones for subnets."
  type        = number
  default     = 2
}

variable "enable_nat_gateway" {
  description = "NAT for OpenAI/Anthropic calls (about 32 USD a month per gateway plus traffic)."
  type        = bool
  default     = true
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every zone."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------- database
variable "db_engine_version" {
  description = "Aurora PostgreSQL version."
  type        = string
  default     = "16.8"
}

variable "db_min_capacity" {
  description = "Serverless v2 minimum ACUs."
  type        = number
  default     = 0.5
}

variable "db_max_capacity" {
  description = "Serverless v2 maximum ACUs."
  type        = number
  default     = 4
}

variable "db_instance_count" {
  description = "Aurora instances (1 writer + readers for fail-over)."
  type        = number
  default     = 1
}

variable "db_deletion_protection" {
  description = "Protect the cluster from deletion."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Point-in-time restore window."
  type        = number
  default     = 7
}

variable "enable_rds_proxy" {
  description = "RDS Proxy in front of Aurora; DATABASE_URL then points at the proxy."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------- observability
variable "log_retention_days" {
  description = "Days to keep logs."
  type        = number
  default     = 30
}

variable "alarm_email" {
  description = "Optional e-mail subscribed to the alarms."
  type        = string
  default     = null
}

variable "turns_p99_latency_ms" {
  description = "p99 duration alarm threshold for turns (ms); a streamed turn lasts as long as its answer, so the default (4 min) watches for turns running into HELIX_ENGINE_DEADLINE (300 s)."
  type        = number
  default     = 240000
}

variable "memory_p99_latency_ms" {
  description = "p99 duration alarm threshold for memory (ms); storing a document embeds every chunk."
  type        = number
  default     = 10000
}

# ---------------------------------------------------------------- web
variable "web_domain_aliases" {
  description = "Custom domain names for the web app."
  type        = list(string)
  default     = []
}

variable "web_acm_certificate_arn" {
  description = "ACM certificate (us-east-1) for web_domain_aliases."
  type        = string
  default     = null
}

variable "web_acl_arn" {
  description = "Optional AWS WAF web ACL (scope CLOUDFRONT, in us-east-1) for the distribution: the web app and, once routed, the API."
  type        = string
  default     = null
}

# ---------------------------------------------------------------- the API on the web origin
variable "api_origins" {
  description = "The SAM stack's output ApiOrigins (the HTTP API's and the streamed turns REST API's domains, the REST API's stage); null until the first sam deploy, which leaves the API off CloudFront."
  type = object({
    http_api_domain  = string
    turns_api_domain = string
    turns_api_stage  = string
  })
  default = null
}

variable "api_origin_read_timeout" {
  description = "Seconds CloudFront waits for an API's first byte and between bytes: a streamed turn sends a keep-alive every 15 s; a non-streamed one nothing until it is done. Above 60 needs a CloudFront quota increase."
  type        = number
  default     = 60
}

variable "manage_api_gateway_log_role" {
  description = "Set the account's (per region) API Gateway CloudWatch role, which REST API access logs need. Only one Terraform root may own it: false in the second environment of a shared account."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------- function settings passed to SAM
variable "log_level" {
  description = "HELIX_LOG for every function."
  type        = string
  default     = "info"
}

variable "reconcile_repair" {
  description = "HELIX_RECONCILE_REPAIR: \"on\" corrects drift (with an audit row), \"off\" only reports it."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["on", "off"], var.reconcile_repair)
    error_message = "reconcile_repair must be \"on\" or \"off\"."
  }
}

variable "embedding_provider" {
  description = "HELIX_EMBEDDING_PROVIDER of memory, turns and db-migrate: \"bedrock\" (Titan Text Embeddings v2) or \"openai\" (needs openai_api_key). Fixed once db-migrate has sized the vectors."
  type        = string
  default     = "bedrock"

  validation {
    condition     = contains(["bedrock", "openai"], var.embedding_provider)
    error_message = "embedding_provider must be \"bedrock\" or \"openai\" (the Lambdas have no in-process embedder)."
  }
}

variable "reserved_concurrency" {
  description = "\"on\" reserves per-function concurrency (needs an account quota above ~120); \"off\" for new accounts."
  type        = string
  default     = "on"

  validation {
    condition     = contains(["on", "off"], var.reserved_concurrency)
    error_message = "reserved_concurrency must be \"on\" or \"off\"."
  }
}

# ---------------------------------------------------------------- secrets (ephemeral: never in state)
# All but edge_secret, which CloudFront also needs as an origin header (a stored, non-write-only argument).
variable "secrets_version" {
  description = "Bump to write the secret values (and the database password) again."
  type        = number
}

variable "db_password" {
  description = "Aurora master password (no / \" @ or spaces)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "jwt_secret" {
  description = "JWT signing secret, at least 32 random bytes."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "edge_secret" {
  description = "HELIX_EDGE_SECRET and CloudFront's x-helix-edge-secret to the API: at least 32 random characters. Sensitive but not ephemeral: CloudFront's origin header keeps it in the state."
  type        = string
  sensitive   = true
}

variable "master_pass_hash" {
  description = "bcrypt hash of the admin passcode."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "fnbo_pass_hash" {
  description = "bcrypt hash of the second passcode, or null."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}

variable "extra_passcodes_json" {
  description = "HELIX_PASSCODES JSON, or null."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}

variable "openai_api_key" {
  description = "OpenAI API key, or null."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}

variable "anthropic_api_key" {
  description = "Anthropic API key, or null."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}
