"""The sign-in service: runs a login transaction through the flow engine and answers with typed results (no Flask)."""
