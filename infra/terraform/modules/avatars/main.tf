# Avatars: persona pictures in a private bucket. Browsers upload and download them directly with URLs the
# personas and turns functions presign; keys sit under avatars/<user_id>/, the prefix their IAM allows.

resource "aws_s3_bucket" "avatars" {
  # checkov:skip=CKV_AWS_144: Avatars are small, user-replaceable pictures; versioning covers mistakes, and cross-region replication would double storage for no recovery need.
  # checkov:skip=CKV_AWS_18: Server access logs would record every presigned image view; CloudTrail data events are the audit tool if a deployment needs one.
  # checkov:skip=CKV2_AWS_62: Nothing reacts to uploads: the API records the key when it presigns the upload.
  # checkov:skip=CKV_AWS_145: SSE-S3 (AES-256): presigned browser PUTs and GETs would otherwise need KMS grants for the signing roles and every viewer's request would cost a KMS call.
  bucket_prefix = "${var.name}-avatars-"
}

resource "aws_s3_bucket_ownership_controls" "avatars" {
  bucket = aws_s3_bucket.avatars.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "avatars" {
  bucket                  = aws_s3_bucket.avatars.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "avatars" {
  bucket = aws_s3_bucket.avatars.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "avatars" {
  bucket = aws_s3_bucket.avatars.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "avatars" {
  bucket = aws_s3_bucket.avatars.id
  rule {
    id     = "forget-replaced-avatars"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# The web app PUTs (upload) and GETs (display) with presigned URLs from its own origin.
resource "aws_s3_bucket_cors_configuration" "avatars" {
  bucket = aws_s3_bucket.avatars.id
  cors_rule {
    allowed_methods = ["PUT", "GET", "HEAD"]
    allowed_origins = var.allowed_origins
    allowed_headers = ["content-type", "content-length"]
    expose_headers  = ["etag"]
    max_age_seconds = 600
  }
}

data "aws_iam_policy_document" "avatars" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.avatars.arn, "${aws_s3_bucket.avatars.arn}/*"]
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

resource "aws_s3_bucket_policy" "avatars" {
  bucket = aws_s3_bucket.avatars.id
  policy = data.aws_iam_policy_document.avatars.json
}
