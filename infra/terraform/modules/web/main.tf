# Web: the single-page app in a private S3 bucket, served only through CloudFront (origin access control),
# with HTTPS, security headers, and every unknown path answered by index.html (client-side routing). Once
# SAM's APIs exist (var.api_origins), the same distribution is the API's front door too: /v1/turns and
# /v1/personalities go to the streamed REST API, the rest of /v1/* and /auth/* to the HTTP API, uncached.
# Every API request carries the viewer's IP (x-helix-viewer-ip) and the edge secret (x-helix-edge-secret),
# which proves to the functions that CloudFront, not a direct caller of execute-api, named that IP.

resource "aws_s3_bucket" "web" {
  # checkov:skip=CKV_AWS_144: The bucket holds build output that the deploy workflow re-uploads from git; cross-region replication would copy what git already keeps.
  # checkov:skip=CKV_AWS_18: CloudFront is the only reader (origin access control); request logging belongs on the distribution (see access_log_bucket).
  # checkov:skip=CKV2_AWS_62: Nothing reacts to uploads: the deploy workflow invalidates CloudFront itself after syncing.
  # checkov:skip=CKV_AWS_145: SSE-S3 (AES-256) encrypts the public web assets; a KMS key would add a key policy for CloudFront and per-request KMS cost for no confidentiality gain.
  bucket_prefix = "${var.name}-web-"
  force_destroy = true # only build output: destroying an environment must not stall on it
}

resource "aws_s3_bucket_ownership_controls" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "web" {
  bucket                  = aws_s3_bucket.web.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "web" {
  bucket = aws_s3_bucket.web.id
  versioning_configuration {
    status = "Enabled" # a bad upload can be rolled back object by object
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "web" {
  bucket = aws_s3_bucket.web.id
  rule {
    id     = "expire-old-builds"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "web" {
  statement {
    sid       = "CloudFrontReadsThroughOriginAccessControl"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.web.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.web.arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.web.arn, "${aws_s3_bucket.web.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "web" {
  bucket = aws_s3_bucket.web.id
  policy = data.aws_iam_policy_document.web.json
}

resource "aws_cloudfront_origin_access_control" "web" {
  name                              = "${var.name}-web"
  description                       = "CloudFront signs its S3 requests; the bucket admits nothing else"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_response_headers_policy" "security" {
  name    = "${var.name}-security-headers"
  comment = "HSTS, CSP and the usual hardening headers for the Helix web app"

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    content_security_policy {
      content_security_policy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: ${var.avatar_origin}; connect-src 'self' ${var.api_origin} ${var.avatar_origin}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
      override                = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    xss_protection {
      protection = true
      mode_block = true
      override   = true
    }
  }
}

# The SPA fallback, on the app's behaviour only: a path whose last segment has no file extension is the app's
# (index.html). Distribution-wide custom error responses would also turn the API's own 403s and 404s into
# index.html with a 200.
resource "aws_cloudfront_function" "spa_fallback" {
  name    = "${var.name}-spa-fallback"
  runtime = "cloudfront-js-2.0"
  comment = "Paths without a file extension are served index.html"
  publish = true
  code    = <<-EOT
    function handler(event) {
      var request = event.request;
      var last = request.uri.substring(request.uri.lastIndexOf('/') + 1);
      if (last.indexOf('.') === -1) {
        request.uri = '/index.html';
      }
      return request;
    }
  EOT
}

# On every API behaviour: the viewer's IP as CloudFront saw it, overwriting whatever the viewer sent under that
# name; the origin request policy (all viewer headers) forwards it. API Gateway's own sourceIp is CloudFront's
# edge address. The functions believe this header only next to the origin's x-helix-edge-secret.
resource "aws_cloudfront_function" "viewer_ip" {
  name    = "${var.name}-viewer-ip"
  runtime = "cloudfront-js-2.0"
  comment = "Sets x-helix-viewer-ip to the viewer's address"
  publish = true
  code    = <<-EOT
    function handler(event) {
      var request = event.request;
      request.headers['x-helix-viewer-ip'] = { value: event.viewer.ip };
      return request;
    }
  EOT
}

locals {
  custom_domain = var.acm_certificate_arn != null && length(var.domain_aliases) > 0
  # Managed policies: CachingOptimized for the hashed assets; index.html is uploaded with no-cache.
  caching_optimized_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  # The API: never cached; every viewer header (Authorization, Idempotency-Key, Accept, ...), cookie and query
  # string reaches it, except Host: API Gateway answers only to its own domain name.
  caching_disabled_policy_id       = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  all_viewer_except_host_policy_id = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
  api_methods                      = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
  api_routed                       = var.api_origins != null
  # CloudFront takes the first behaviour whose pattern matches, so the turns function's paths come before
  # /v1/*. infra/checks/check_sam.py checks that every route in the SAM template lands on its own API.
  turns_api_paths = ["/v1/turns", "/v1/personalities", "/v1/chat/completions", "/v1/models", "/v1/embeddings"]
  http_api_paths  = ["/v1/*", "/auth/*"]
  api_origins = local.api_routed ? {
    turns-api = { domain_name = var.api_origins.turns_api_domain, origin_path = "/${var.api_origins.turns_api_stage}" }
    http-api  = { domain_name = var.api_origins.http_api_domain, origin_path = "" }
  } : {}
  api_behaviours = local.api_routed ? concat(
    [for path in local.turns_api_paths : { path_pattern = path, origin_id = "turns-api" }],
    [for path in local.http_api_paths : { path_pattern = path, origin_id = "http-api" }],
  ) : []
}

resource "aws_cloudfront_distribution" "web" {
  # checkov:skip=CKV_AWS_68: A WAF web ACL costs a fixed monthly fee per environment; the bucket serves static files, and the API behind it has API Gateway's throttling and the functions' own JWT check and sign-in throttle. Set web_acl_arn (module helix) to attach one: it then covers the API's behaviours too.
  # checkov:skip=CKV2_AWS_47: Follows from CKV_AWS_68: with no WAF there is no Log4j rule to attach (and nothing here runs Java).
  # checkov:skip=CKV_AWS_310: A single S3 origin in the same region as the rest of Helix; an origin group would need a replicated bucket (see CKV_AWS_144).
  # checkov:skip=CKV_AWS_374: Helix serves teams wherever they are; restrict with geo_restriction if a deployment must.
  # checkov:skip=CKV_AWS_174: With a custom domain the policy is TLSv1.2_2021; on the default *.cloudfront.net certificate CloudFront fixes the setting at TLSv1 (any other value is a perpetual diff), and browsers negotiate TLS 1.2+ anyway.
  # checkov:skip=CKV_AWS_86: Standard logging needs an ACL-enabled log bucket; enable it by setting access_log_bucket (a bucket domain name).
  comment             = "${var.name} web app"
  enabled             = true
  is_ipv6_enabled     = true
  http_version        = "http2and3"
  price_class         = var.price_class
  default_root_object = "index.html"
  aliases             = local.custom_domain ? var.domain_aliases : []
  web_acl_id          = var.web_acl_id

  origin {
    origin_id                = "web"
    domain_name              = aws_s3_bucket.web.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.web.id
  }

  # The two APIs (SAM's stack output ApiOrigins). No origin access control: API Gateway has none; auth is the
  # functions' own JWT check, as it is on the execute-api URLs themselves.
  dynamic "origin" {
    for_each = local.api_origins
    content {
      origin_id   = origin.key
      domain_name = origin.value.domain_name
      origin_path = origin.value.origin_path
      # Sent on every request to the API, replacing a viewer's header of that name; never shown to viewers.
      # The functions read the same value as HELIX_EDGE_SECRET and only then trust x-helix-viewer-ip.
      custom_header {
        name  = "x-helix-edge-secret"
        value = var.edge_secret
      }
      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
        # The time CloudFront waits for the first byte and then between two bytes, not for the whole answer
        # (no response completion timeout is set): a streamed turn writes `: keep-alive` after 15 s of
        # silence, so it may stream for as long as the function runs. A turn asked for without streaming
        # sends nothing until it is done, so it gets this long (see var.api_origin_read_timeout).
        origin_read_timeout      = var.api_origin_read_timeout
        origin_keepalive_timeout = 5
      }
    }
  }

  default_cache_behavior {
    target_origin_id           = "web"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.caching_optimized_policy_id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.spa_fallback.arn
    }
  }

  # Uncached, every method; https-only, since a redirected POST would lose its body. No compression: it would
  # hold back a streamed answer, and the APIs' answers are small JSON.
  dynamic "ordered_cache_behavior" {
    for_each = local.api_behaviours
    content {
      path_pattern               = ordered_cache_behavior.value.path_pattern
      target_origin_id           = ordered_cache_behavior.value.origin_id
      viewer_protocol_policy     = "https-only"
      allowed_methods            = local.api_methods
      cached_methods             = ["GET", "HEAD"]
      compress                   = false
      cache_policy_id            = local.caching_disabled_policy_id
      origin_request_policy_id   = local.all_viewer_except_host_policy_id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id

      function_association {
        event_type   = "viewer-request"
        function_arn = aws_cloudfront_function.viewer_ip.arn
      }
    }
  }

  dynamic "logging_config" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      bucket          = logging_config.value
      prefix          = "${var.name}/cloudfront/"
      include_cookies = false
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = !local.custom_domain
    acm_certificate_arn            = local.custom_domain ? var.acm_certificate_arn : null
    ssl_support_method             = local.custom_domain ? "sni-only" : null
    # CloudFront's own *.cloudfront.net certificate only accepts "TLSv1" here (browsers still negotiate
    # TLS 1.2+); a custom domain enforces TLS 1.2.
    minimum_protocol_version = local.custom_domain ? "TLSv1.2_2021" : "TLSv1"
  }
}
