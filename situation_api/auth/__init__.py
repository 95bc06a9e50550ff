"""Who may do what: API tokens per agency and person (hashed), roles, the request guard, rate
limits, and the HTTP hardening (security headers, CSP, CORS, body limits)."""

from situation_api.auth.guard import (
    WS_PROTOCOL,
    Authenticator,
    principal_of,
    require,
    websocket_principal,
    websocket_token,
)
from situation_api.auth.roles import ANONYMOUS, ROLES, Principal, Role, grants
from situation_api.auth.tokens import (
    MemoryTokenStore,
    PostgresTokenStore,
    TokenInfo,
    TokenInvalid,
    TokenStore,
)

__all__ = [
    "ANONYMOUS",
    "ROLES",
    "WS_PROTOCOL",
    "Authenticator",
    "MemoryTokenStore",
    "PostgresTokenStore",
    "Principal",
    "Role",
    "TokenInfo",
    "TokenInvalid",
    "TokenStore",
    "grants",
    "principal_of",
    "require",
    "websocket_principal",
    "websocket_token",
]
