variable "name" {
  description = "Prefix for resource names, e.g. helix-prod."
  type        = string
}

variable "secret_name" {
  description = "The secret's name, e.g. helix/prod; its ARN becomes HELIX_SECRET_ID."
  type        = string
}

variable "secret_version" {
  description = "Bump to write the values below again (a new passcode, a rotated key). Nothing is written while it is unchanged."
  type        = number
}

variable "recovery_window_days" {
  description = "Days a deleted secret can be restored."
  type        = number
  default     = 7
}

variable "database_host" {
  description = "Aurora writer or RDS Proxy endpoint (the database module's endpoint)."
  type        = string
}

variable "database_port" {
  description = "PostgreSQL port."
  type        = number
}

variable "database_name" {
  description = "The Helix database."
  type        = string
}

variable "database_username" {
  description = "The database user in DATABASE_URL."
  type        = string
}

# ---------------------------------------------------------------- operator-supplied values (ephemeral)
# TODO(operator): supply each through the environment before plan/apply, e.g.
#   export TF_VAR_jwt_secret="$(openssl rand -base64 48)"      (keep it: re-supply it on every apply)
#   export TF_VAR_edge_secret="$(openssl rand -base64 48)"     (likewise; CloudFront sends it too, see edge_secret)
#   export TF_VAR_master_pass_hash="$(make hash-passcode)"

variable "database_password" {
  description = "The database password (the same value the database module sets)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "jwt_secret" {
  description = "JWT_SECRET: at least 32 random bytes; production refuses shorter ones at cold start."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "edge_secret" {
  description = "HELIX_EDGE_SECRET: the x-helix-edge-secret CloudFront sends to the API (module web); a request carrying it may name its viewer's IP. At least 32 characters, printable ASCII without spaces (an HTTP header value); the functions refuse shorter ones at cold start. Ephemeral here, but the web module stores it in CloudFront's configuration."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = can(regex("^[!-~]{32,}$", var.edge_secret))
    error_message = "edge_secret must be at least 32 printable ASCII characters without spaces, e.g. openssl rand -base64 48."
  }
}

variable "master_pass_hash" {
  description = "MASTER_PASS_HASH: bcrypt hash of the admin passcode (make hash-passcode)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "fnbo_pass_hash" {
  description = "FNBO_PASS_HASH: bcrypt hash of the second passcode; null or empty leaves it out."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}

variable "extra_passcodes_json" {
  description = "HELIX_PASSCODES: JSON list of {email, hash, role?}; null leaves it out."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}

variable "openai_api_key" {
  description = "OPENAI_API_KEY; null leaves OpenAI unconfigured (503 provider_not_configured)."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}

variable "anthropic_api_key" {
  description = "ANTHROPIC_API_KEY; null leaves Anthropic unconfigured."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null
}
