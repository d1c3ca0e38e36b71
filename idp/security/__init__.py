"""Small security primitives built on well-kept libraries (argon2-cffi, cryptography, hmac)."""
