"""Federation: signing people in through an upstream OpenID provider (Entra ID, Okta, any OIDC provider).

No Flask here. `providers` (which providers exist: config file and Administration), `discovery`
(their metadata and keys, cached), `login` (the authorization code flow with PKCE, state and nonce,
and ID token validation), `accounts` (provisioning and linking), `scenarios` (how a provider's sign-in
counts towards two-factor authentication), `check` (`idp provider check`, "Test connection")."""
