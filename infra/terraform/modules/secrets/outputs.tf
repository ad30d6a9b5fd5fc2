output "secret_arn" {
  description = "HELIX_SECRET_ID for every function (SAM parameter HelixSecretArn)."
  value       = aws_secretsmanager_secret.helix.arn
}

output "secret_name" {
  description = "The secret's name, for aws secretsmanager commands."
  value       = aws_secretsmanager_secret.helix.name
}

output "kms_key_arn" {
  description = "The key the secret is encrypted with (SAM parameter HelixSecretKmsKeyArn)."
  value       = module.key.key_arn
}
