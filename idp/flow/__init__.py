"""The login flow pipeline: policies, conditions, steps and the engine that runs them (no Flask here)."""
