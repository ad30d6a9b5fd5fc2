output "bucket_name" {
  description = "Where the deploy workflow syncs web/dist."
  value       = aws_s3_bucket.web.bucket
}

output "distribution_id" {
  description = "The deploy workflow invalidates it after each upload."
  value       = aws_cloudfront_distribution.web.id
}

output "domain_name" {
  description = "The distribution's own domain name."
  value       = aws_cloudfront_distribution.web.domain_name
}

output "origin" {
  description = "The web app's origin (the API's only CORS origin)."
  value       = "https://${local.custom_domain ? var.domain_aliases[0] : aws_cloudfront_distribution.web.domain_name}"
}
