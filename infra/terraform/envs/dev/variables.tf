variable "region" {
  description = "AWS region for the whole environment (the SAM stack deploys to the same one)."
  type        = string
}

variable "alarm_email" {
  description = "Optional e-mail subscribed to the alarm topic."
  type        = string
  default     = null
}

variable "web_domain_aliases" {
  description = "Custom domain names for the web app (needs web_acm_certificate_arn)."
  type        = list(string)
  default     = []
}

variable "web_acm_certificate_arn" {
  description = "ACM certificate in us-east-1 for web_domain_aliases."
  type        = string
  default     = null
}

variable "api_origins" {
  description = "The SAM stack's output ApiOrigins, after the first sam deploy (docs/deploy.md); null keeps the API off CloudFront."
  type = object({
    http_api_domain  = string
    turns_api_domain = string
    turns_api_stage  = string
  })
  default = null
}

variable "secrets_version" {
  description = "Bump (in terraform.tfvars) to write the secret values below, and the database password, again."
  type        = number
}

# ---------------------------------------------------------------- secret values
# TODO(operator): supply these through the environment for every plan and apply; they are ephemeral, so
# Terraform keeps none of them in the state or the plan (docs/deploy.md, "Secret values"), except edge_secret:
#   TF_VAR_db_password        openssl rand -hex 32
#   TF_VAR_jwt_secret         openssl rand -base64 48
#   TF_VAR_edge_secret        openssl rand -base64 48   (also CloudFront's origin header, so it is in the state)
#   TF_VAR_master_pass_hash   make hash-passcode   (reads the passcode from stdin)
#   TF_VAR_fnbo_pass_hash, TF_VAR_extra_passcodes_json, TF_VAR_openai_api_key, TF_VAR_anthropic_api_key: optional

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
  description = "HELIX_EDGE_SECRET, which CloudFront also sends to the API as x-helix-edge-secret: at least 32 random characters (openssl rand -base64 48). Sensitive, never shown, but not ephemeral: CloudFront's origin header is stored, so the value is in the state and the plan."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[!-~]{32,}$", var.edge_secret))
    error_message = "edge_secret must be at least 32 printable ASCII characters without spaces: openssl rand -base64 48."
  }
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
