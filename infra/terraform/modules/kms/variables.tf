variable "description" {
  description = "What the key encrypts, shown in the KMS console."
  type        = string
}

variable "alias" {
  description = "The key's alias, without the alias/ prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias: letters, digits, /, _ and - (at most 250), not starting with aws/."
  }
}

variable "extra_policy_json" {
  description = "More key-policy statements (an IAM policy document as JSON, e.g. letting a service use the key), merged after the account statement; null for none."
  type        = string
  default     = null
}
