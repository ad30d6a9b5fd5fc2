output "bucket_name" {
  description = "HELIX_AVATAR_BUCKET (SAM parameter AvatarBucketName)."
  value       = aws_s3_bucket.avatars.bucket
}

output "bucket_arn" {
  description = "The avatar bucket's ARN."
  value       = aws_s3_bucket.avatars.arn
}
