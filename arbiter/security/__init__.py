"""Secrets and key material: the secret types that wipe themselves, the secrets backends (file,
AWS Secrets Manager), the encrypted credential store and the key references that cross process
boundaries (ADR 0145)."""
