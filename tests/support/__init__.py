"""Shared test helpers: databases, configs, servers, and a driver for multi-step sign-ins."""
