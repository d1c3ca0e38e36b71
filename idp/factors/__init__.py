"""Second factors (no Flask): authenticator apps, emailed/texted codes, recovery codes, lockout, notices."""
