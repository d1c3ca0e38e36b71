"""Administration (no Flask): permissions and organisation scope, security settings and the 2FA rollout,
user management (reset 2FA, unlock, disable, invitations), client management. The web console
(`idp.web.admin`) and the CLI (`idp.cli.admin`) are thin layers over these modules."""
