"""The administration API for Fentu FSM's own admin screens (no Flask here): its scopes, which clients an
administrator granted them to, and what a verified API token may do (idp.web.adminapi is the HTTP side)."""
