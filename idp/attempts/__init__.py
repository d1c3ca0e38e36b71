"""Wrong secrets counted per account and per client, so that a lockout hurts the attacker, not the owner."""
