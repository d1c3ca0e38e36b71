"""Rate limits shared by every worker and server: per client IP and per account (or client) on sign-in,
second factors, code sending, the token and the introspection endpoints.

- `limits.py`  — "N/minute" parsing and the rules named in `[rate_limit]` (no dependencies; the config uses it).
- `limiter.py` — fixed-window counters in the database (`rate_limit_bucket`, atomic upsert) or in Redis.
- `web.py`     — the Flask `before_request` hook keyed on `request.endpoint`, and the 429 responses.
"""
