variable "name" {
  description = "Prefix for resource names and the functions' names, e.g. helix-prod."
  type        = string
}

variable "function_names" {
  description = "The SAM functions (without the prefix): each gets a log group and an error alarm."
  type        = list(string)
}

variable "log_retention_days" {
  description = "Days to keep function and API access logs."
  type        = number
  default     = 30
}

variable "alarm_email" {
  description = "Optional address subscribed to the alarm topic (it must confirm the subscription)."
  type        = string
  default     = null
}

variable "max_5xx_percent" {
  description = "Alarm when more than this share of API requests answer 5xx."
  type        = number
  default     = 5
}

variable "min_requests_for_rate" {
  description = "Requests a minute below which the 5xx rate is not judged (one error in two requests is noise)."
  type        = number
  default     = 5
}

variable "api_function_names" {
  description = "The functions behind an API (a subset of function_names): each gets a p99 duration alarm."
  type        = list(string)
}

variable "p99_latency_ms" {
  description = "Alarm when an API function's p99 duration exceeds this (ms); turns and memory have their own thresholds."
  type        = number
  default     = 3000
}

variable "turns_p99_latency_ms" {
  description = "p99 duration alarm for turns (ms): a streamed turn lasts as long as its answer streams, so this watches for turns running into HELIX_ENGINE_DEADLINE (300 s); set it from a baseline."
  type        = number
  default     = 240000
}

variable "memory_p99_latency_ms" {
  description = "p99 duration alarm for memory (ms): storing a document embeds every chunk through the provider."
  type        = number
  default     = 10000
}

variable "manage_api_gateway_log_role" {
  description = "Create the API Gateway CloudWatch role and set it on the account (per region), as REST API access logs need. One owner per account and region."
  type        = bool
  default     = true
}
