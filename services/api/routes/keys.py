"""`/api/keys`: create, list and revoke API keys (scope `admin`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, Security

from services.api.auth import BEARER, ScopedRoute, required_scope
from services.api.deps import ApiKeys
from services.api.jsonio import ExactJSONResponse
from services.api.schemas.fields import KEY_ID_PATTERN
from services.api.schemas.metadata import (
    INVALID_PARAMETERS,
    JSON_BODY,
    PROTECTED,
    error,
    link,
    success,
)
from services.api.schemas.requests import KeyCreate
from services.api.schemas.responses import KeyIssued, KeyList, KeyPublic
from shared.access import Scope

router = APIRouter(
    prefix="/api/keys",
    tags=["access"],
    route_class=ScopedRoute,
    dependencies=[Security(BEARER)],
    responses=PROTECTED,
)

KeyId = Annotated[str, Path(alias="keyId", pattern=KEY_ID_PATTERN, description="The key's id")]


@router.post(
    "",
    status_code=201,
    response_model=KeyIssued,
    responses={
        **success(
            201,
            links={
                "RevokeKey": link(
                    "revoke_key",
                    "Revoke this key",
                    parameters={"keyId": "$response.body#/keyId"},
                )
            },
        ),
        **JSON_BODY,
    },
    openapi_extra=required_scope(Scope.ADMIN),
)
def create_key(body: KeyCreate, keys: ApiKeys) -> Response:
    """Create a key for an account (which comes into being with its first key).

    The response carries the key itself; it is shown this once and cannot be recovered.
    """
    issued = keys.create(body.account, body.scopes, body.name)
    return ExactJSONResponse(KeyIssued.of(issued.record, issued.secret), status_code=201)


@router.get("", response_model=KeyList, openapi_extra=required_scope(Scope.ADMIN))
def list_keys(keys: ApiKeys) -> Response:
    """Every key (revoked ones too), oldest first; never a key itself."""
    return ExactJSONResponse(KeyList.of(keys.list()))


@router.delete(
    "/{keyId}",
    response_model=KeyPublic,
    responses={
        **error(404, "No such key"),
        **error(409, "The key is already revoked"),
        **INVALID_PARAMETERS,
    },
    openapi_extra=required_scope(Scope.ADMIN),
)
def revoke_key(key_id: KeyId, keys: ApiKeys, request: Request) -> Response:
    """Revoke a key: refused at once by this replica, by every replica within 60 s."""
    revoked = keys.revoke(key_id)
    request.app.state.key_verifier.forget(key_id)
    return ExactJSONResponse(KeyPublic.of(revoked))
