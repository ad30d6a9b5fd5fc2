variable "name" {
  description = "Prefix for every resource name, e.g. helix-prod."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range; a /16 leaves room for 16 /20 subnets."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones to spread subnets over (Aurora needs at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be 2 to 4: Aurora's subnet group needs two zones."
  }
}

variable "enable_nat_gateway" {
  description = "NAT for the public LLM providers (OpenAI, Anthropic). Off: only Bedrock (through its endpoint) works."
  type        = bool
  default     = true
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; a zone outage cuts provider calls from the others)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints instead of NAT."
  type        = list(string)
  default     = ["secretsmanager", "xray", "bedrock-runtime", "sns"]
}

variable "logs_kms_key_arn" {
  description = "KMS key for the flow-log group (the observability module's logs key)."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs."
  type        = number
  default     = 30
}

variable "flow_log_traffic_type" {
  description = "ALL, ACCEPT or REJECT; REJECT alone is the cheap choice for audit."
  type        = string
  default     = "REJECT"
}
