"""The requirement vocabulary of a flow step, Keycloak-small: required, alternative, conditional, disabled."""
import enum


class Requirement(enum.StrEnum):
    REQUIRED = "required"        # must succeed
    ALTERNATIVE = "alternative"  # one of the alternatives in its flow must succeed
    CONDITIONAL = "conditional"  # required when its `when` condition holds, skipped otherwise
    DISABLED = "disabled"        # never runs
