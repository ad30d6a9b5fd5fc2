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
