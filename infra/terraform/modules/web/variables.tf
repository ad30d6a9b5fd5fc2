variable "name" {
  description = "Prefix for resource names, e.g. helix-prod."
  type        = string
}

variable "domain_aliases" {
  description = "Custom domain names (e.g. [\"helix.example.com\"]); empty serves on the *.cloudfront.net name."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate in us-east-1 covering domain_aliases; null uses CloudFront's own certificate."
  type        = string
  default     = null
}

variable "price_class" {
  description = "CloudFront edge locations: PriceClass_100 (North America, Europe) is the cheapest."
  type        = string
  default     = "PriceClass_100"
}

variable "api_origin" {
  description = "Where the app calls the API (CSP connect-src), e.g. https://*.execute-api.<region>.amazonaws.com."
  type        = string
}

variable "avatar_origin" {
  description = "Where presigned avatar uploads and downloads go (CSP connect-src and img-src)."
  type        = string
}

variable "web_acl_id" {
  description = "Optional AWS WAF web ACL (ARN) for the distribution."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Optional bucket domain name (ACLs enabled) for CloudFront standard logs."
  type        = string
  default     = null
}

variable "api_origins" {
  description = "SAM's stack output ApiOrigins: the HTTP API's and the turns REST API's execute-api domains and the REST API's stage. null (before the first sam deploy) leaves the API off the distribution."
  type = object({
    http_api_domain  = string
    turns_api_domain = string
    turns_api_stage  = string
  })
  default = null
}

variable "api_origin_read_timeout" {
  description = "Seconds CloudFront waits for an API's first byte and between bytes (CloudFront's default is 30). A streamed turn sends a keep-alive every 15 s; a turn without streaming sends nothing until it is done. Above 60 needs a quota increase (Service Quotas: CloudFront, Response timeout per origin)."
  type        = number
  default     = 60

  validation {
    condition     = var.api_origin_read_timeout >= 1 && var.api_origin_read_timeout <= 180
    error_message = "api_origin_read_timeout must be 1 to 180 seconds (above 60 only with a quota increase)."
  }
}

variable "edge_secret" {
  description = "The x-helix-edge-secret CloudFront sends to the API origins (HELIX_EDGE_SECRET in the Helix secret). CloudFront keeps origin headers in the distribution's configuration, so this one value is in the state: no write-only argument exists for it."
  type        = string
  sensitive   = true
}
