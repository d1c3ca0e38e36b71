"""Built-in condition types; each module registers one."""
