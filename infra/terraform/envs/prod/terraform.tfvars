# Non-secret settings for prod. Secret values never go here: see variables.tf (TF_VAR_*).
region = "us-east-1"

# Bump when a secret value changes (new passcode, rotated key or password): the next apply writes them all.
# 2: the secret gains HELIX_EDGE_SECRET (TF_VAR_edge_secret).
secrets_version = 2

# alarm_email             = "oncall@example.com"
# web_domain_aliases      = ["helix.example.com"]
# web_acm_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/..."

# After the first `sam deploy --config-env prod`: the stack's output ApiOrigins, so CloudFront serves the API on
# the web origin (the streamed /v1/turns included). Until then the web app reaches only the HTTP API.
#   aws cloudformation describe-stacks --stack-name helix-prod --query "Stacks[0].Outputs[?OutputKey=='ApiOrigins'].OutputValue" --output text
# api_origins = { http_api_domain = "<id>.execute-api.us-east-1.amazonaws.com", turns_api_domain = "<id>.execute-api.us-east-1.amazonaws.com", turns_api_stage = "live" }
