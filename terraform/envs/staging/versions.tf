terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70.0, < 6.0.0"
    }
  }

  # Partial configuration: `terraform init -backend-config=backend.hcl` supplies bucket and key
  # (docs/deployment.md), so account ids never live in this repository.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "arbiter"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
