"""Identity: accounts, memberships, logins, MFA, API keys, OIDC, and authorization.

Key contracts:
- Services flush and never commit; the caller's ``Database.transaction`` commits, so a change
  and its audit record commit together. A function that needs more than one database scope
  (authentication reads across tenants in ``DbScope.auth()``, then writes the tenant's audit
  record) binds them itself and says in which scope it leaves the session; the others expect
  the caller to have bound the right one.
- One exception to "raise and roll back": :class:`RefreshTokenReused` revokes a stolen
  refresh-token family, and that revocation must be committed before the error is answered.
- Every authentication failure is a :class:`~smeflow.errors.NotAuthenticated` whose message
  does not say which check failed.
- Whatever makes a cached credential stale (logout, refresh-token reuse, removing a member,
  changing a role, revoking a key) sends ``pg_notify(AUTH_CHANNEL, <cache key>)`` in the same
  transaction (:func:`session_cache_key`, or :data:`EVERYTHING`).
"""

from smeflow.identity._apikeys import (
    authenticate_api_key,
    create_api_key,
    get_api_key,
    list_api_keys,
    revoke_api_key,
)
from smeflow.identity._authz import Authorizer
from smeflow.identity._mfa import begin_mfa_enrolment, confirm_mfa, disable_mfa, verify_totp
from smeflow.identity._oidc import OidcVerifier, map_oidc_principal, oidc_role
from smeflow.identity._passwords import PasswordCheck, hash_password, validate_password, verify_password
from smeflow.identity._revocation import AUTH_CHANNEL, EVERYTHING, session_cache_key
from smeflow.identity._roles import ROLES, role_rank
from smeflow.identity._sessions import (
    LoginResult,
    RefreshTokenReused,
    Tokens,
    complete_mfa_login,
    is_session_active,
    login,
    logout,
    refresh,
    revoke_user_sessions,
    session_principal,
)
from smeflow.identity._tokens import (
    AccessClaims,
    MfaClaims,
    TokenExpired,
    TokenInvalid,
    decode_access_token,
    decode_mfa_token,
    issue_access_token,
    issue_mfa_token,
)
from smeflow.identity._users import (
    Member,
    add_member,
    change_role,
    create_user,
    get_member,
    list_members,
    normalize_email,
    remove_member,
    set_platform_role,
)
from smeflow.identity.models import ApiKey, AuthSession, AuthzRule, ExternalIdentity, Membership, User
from smeflow.identity.principal import Principal, PrincipalKind

__all__ = [
    "AUTH_CHANNEL",
    "EVERYTHING",
    "ROLES",
    "AccessClaims",
    "ApiKey",
    "AuthSession",
    "Authorizer",
    "AuthzRule",
    "ExternalIdentity",
    "LoginResult",
    "Member",
    "Membership",
    "MfaClaims",
    "OidcVerifier",
    "PasswordCheck",
    "Principal",
    "PrincipalKind",
    "RefreshTokenReused",
    "TokenExpired",
    "TokenInvalid",
    "Tokens",
    "User",
    "add_member",
    "authenticate_api_key",
    "begin_mfa_enrolment",
    "change_role",
    "complete_mfa_login",
    "confirm_mfa",
    "create_api_key",
    "create_user",
    "decode_access_token",
    "decode_mfa_token",
    "disable_mfa",
    "get_api_key",
    "get_member",
    "hash_password",
    "is_session_active",
    "issue_access_token",
    "issue_mfa_token",
    "list_api_keys",
    "list_members",
    "login",
    "logout",
    "map_oidc_principal",
    "normalize_email",
    "oidc_role",
    "refresh",
    "remove_member",
    "revoke_api_key",
    "revoke_user_sessions",
    "role_rank",
    "session_cache_key",
    "session_principal",
    "set_platform_role",
    "validate_password",
    "verify_password",
    "verify_totp",
]
