"""Authentication and authorization: who a request acts for, and what they may do.

- ``roles``: the roles, their permissions (one table), ``Principal`` and ``can``.
- ``passwords``: argon2id hashes (pwdlib).
- ``tokens``: this server's access tokens (joserfc), verified strictly.
- ``oidc``: an external OpenID Connect issuer's tokens, through its JWKS.
- ``throttle``: failed-login throttling, in memory or on Redis.
- ``sessions``: login, refresh with rotation and reuse detection, logout, and the per-request
  check that a token's user is still enabled and its session not logged out.
- ``users``: creating, disabling and listing users.
- ``origins``: the websocket handshake's Origin check.

Configuration comes in as plain values and dataclasses from the composition root; nothing here
reads the settings.
"""
