"""SCIM 2.0 provisioning (RFC 7643, RFC 7644) per organisation: tokens, users, groups, filters — no Flask."""
