# Non-secret settings for prod. Secret values never go here: see variables.tf (TF_VAR_*).
region = "us-east-1"

# Bump when a secret value changes (new passcode, rotated key or password): the next apply writes them all.
secrets_version = 1

# alarm_email             = "oncall@example.com"
# web_domain_aliases      = ["helix.example.com"]
# web_acm_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/..."
