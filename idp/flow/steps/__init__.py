"""Built-in step types; each module registers one."""
