"""The second-factor types, one module each, registering themselves (idp.factors.registry); beside them
the passwordless `passkey` step, which signs in with the `webauthn` factor alone."""
