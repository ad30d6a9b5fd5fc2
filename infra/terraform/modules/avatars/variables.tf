variable "name" {
  description = "Prefix for resource names, e.g. helix-prod."
  type        = string
}

variable "allowed_origins" {
  description = "Origins allowed to use presigned URLs from a browser (the web app's)."
  type        = list(string)
}

variable "noncurrent_days" {
  description = "Days a replaced or deleted avatar stays recoverable."
  type        = number
  default     = 30
}
