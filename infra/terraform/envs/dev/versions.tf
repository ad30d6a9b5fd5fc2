terraform {
  # 1.11+: write-only arguments and ephemeral variables keep every secret value out of the state.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Remote state in S3 with S3-native locking. The bucket is the operator's (one per account, versioned,
  # encrypted; docs/deploy.md creates it) and is given at init time:
  #   terraform init -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
  backend "s3" {
    key          = "helix/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "helix"
      Environment = "dev"
      ManagedBy   = "terraform"
    }
  }
}
