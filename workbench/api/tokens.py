"""`/tokens`: an account's API tokens, listed, made (the secret shown once) and revoked.

Any signed-in account manages its own; an admin may name another account (`?account=`, `{"account": ...}`)
or list every account's (`?all=true`). A non-admin naming another account's token to revoke hears that
there is no such token, as for a missing one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from workbench.accounts.tokens import NAME_MAX, ApiToken, ApiTokens
from workbench.api.core import PAGE_PARAMS, ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged

TAG = "tokens"

_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}

TOKEN_SCHEMA: JsonSchema = {
    "type": "object",
    "required": ["name", "account", "created_at", "created_by", "last_used_at", "revoked_at"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": NAME_MAX},
        "account": {"type": "string", "description": "The account the token acts as."},
        "created_at": _TIME,
        "created_by": {"type": "string", "description": "Who made it: the account itself or an admin."},
        "last_used_at": {**_TIME_OR_NULL, "description": "Updated at most once a minute."},
        "revoked_at": _TIME_OR_NULL,
    },
}

CREATE_BODY: JsonSchema = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX,
                 "description": "Unique among the account's live tokens; no control characters, nor / ? # % \\."},
        "account": {"type": ["string", "null"],
                    "description": "Make it for this account instead of the caller's own (admins only)."},
    },
}  # fmt: skip

CREATED_SCHEMA: JsonSchema = {
    "type": "object",
    "required": ["name", "account", "token"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "account": {"type": "string"},
        "token": {"type": "string", "pattern": "^wbt_[A-Za-z0-9_-]{43}$",
                  "description": "The secret: shown this once, never again (only its sha256 is kept)."},
    },
}  # fmt: skip

REVOKED_SCHEMA: JsonSchema = {
    "type": "object",
    "required": ["revoked"],
    "additionalProperties": False,
    "properties": {"revoked": {"type": "boolean", "const": True}},
}

_ACCOUNT = Param("account", str, help="Another account's tokens (admins only; default: the caller's own).")


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "account": token.account,
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@endpoint(
    "GET",
    "/tokens",
    summary="The caller's API tokens (an admin: another account's, or every account's), revoked ones too",
    tag=TAG,
    params=(_ACCOUNT, Param("all", bool, help="Every account's tokens (admins only).", default=False), *PAGE_PARAMS),
    response=page_schema(TOKEN_SCHEMA),
)
def list_tokens(call: Call) -> Reply:
    if call.params["all"] and call.params["account"] is not None:
        raise ApiError(422, "bad_param", "all, account: 只能选一个 (give one of them, not both)")
    tokens = ApiTokens(call.access.store).list(call.access, call.params["account"], every=call.params["all"])
    return paged(call, [token_json(t) for t in tokens])


@endpoint(
    "POST",
    "/tokens",
    summary="Makes an API token; the answer holds its secret, shown this once",
    tag=TAG,
    body=CREATE_BODY,
    response=CREATED_SCHEMA,
    status=201,
)
def create_token(call: Call) -> Reply:
    name = call.body_field("name", str, required=True)
    account = call.body_field("account", str)
    if isinstance(call.body, dict):
        unknown = sorted(set(call.body) - {"name", "account"})
        if unknown:
            raise ApiError(422, "unknown_field", f"{', '.join(unknown)}: 不认识的字段 (unknown field)")
    token, secret = ApiTokens(call.access.store).create(
        call.access.account, name, actor=call.access.actor, for_account=account
    )
    return Reply({"name": token.name, "account": token.account, "token": secret}, status=201)


@endpoint(
    "DELETE",
    "/tokens/{name}",
    summary="Revokes an API token at once (it stays listed, with revoked_at)",
    tag=TAG,
    params=(Param("name", str, where="path", required=True, help="The token's name."), _ACCOUNT),
    response=REVOKED_SCHEMA,
)
def revoke_token(call: Call) -> Reply:
    # A client may send the name percent-encoded once more than the HTTP door decodes (the in-process door
    # decodes nothing): a name never holds "%" (`check_token_name`), so unquoting is safe either way.
    name = unquote(call.params["name"])
    ApiTokens(call.access.store).revoke(name, actor=call.access.actor, account=call.params["account"])
    return Reply({"revoked": True})
