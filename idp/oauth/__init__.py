"""OpenID Connect and OAuth 2 on authlib: grants, tokens, keys, discovery (no view code here)."""
