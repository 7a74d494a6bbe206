"""API keys: `APIKEY#<keyId>` items holding a key's digests and metadata, never the key.

A key is looked up by its id (a digest of the key, `shared.access.key_id_of`): one GetItem.
Listing reads the `APIKEYS` partition of GSI1, oldest first. Revoking stamps `revokedAt` once;
a revoke whose response was lost recognises its own token in the item.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared import keys
from shared.access import ApiKey, Scope, key_id_of, key_verifier, new_key
from shared.clock import Clock, format_timestamp, utc_now
from shared.codecs import (
    REVOKE_TOKEN,
    REVOKED_AT,
    VERSION,
    Item,
    api_key_from_item,
    api_key_key,
    api_key_to_item,
    number,
    string,
)
from shared.errors import ApiKeyAlreadyRevoked, ApiKeyNotFound
from shared.repository._translate import error_code, store_errors
from shared.schema import BOOK_INDEX, INDEX_PARTITION_KEY, PARTITION_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as its creator receives it: the stored record and, this once, the key itself."""

    record: ApiKey
    secret: str

    @property
    def key_id(self) -> str:
        """The key's id."""
        return self.record.key_id


class ApiKeyRepository:
    """Creates, reads, lists and revokes API keys."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, clock: Clock = utc_now) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def create(self, account: str, scopes: Iterable[Scope], name: str = "") -> IssuedKey:
        """A new random key for `account` (256 random bits; ids cannot collide in practice)."""
        secret = new_key()
        record = self._record(secret, account, scopes, name)
        with store_errors():
            self._client.put_item(
                TableName=self._table,
                Item=api_key_to_item(record),
                ConditionExpression=f"attribute_not_exists({PARTITION_KEY})",
            )
        return IssuedKey(record, secret)

    def register(
        self, account: str, scopes: Iterable[Scope], name: str, secret: str | None = None
    ) -> IssuedKey:
        """Make `secret` a valid key of `account` with `scopes`, whatever it was before.

        For a key the operator picked (`om dev --api-key`): registering it again — at every
        start — rewrites its record, so it is valid again even if it had been revoked. Without
        a `secret`, a new random key is created.
        """
        if secret is None:
            return self.create(account, scopes, name)
        record = self._record(secret, account, scopes, name)
        with store_errors():
            self._client.put_item(TableName=self._table, Item=api_key_to_item(record))
        return IssuedKey(record, secret)

    def get(self, key_id: str) -> ApiKey | None:
        """The key with this id, or None (strongly consistent read)."""
        with store_errors():
            response = self._client.get_item(
                TableName=self._table, Key=api_key_key(key_id), ConsistentRead=True
            )
        item = response.get("Item")
        return None if item is None else api_key_from_item(item)

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        found: list[ApiKey] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BOOK_INDEX,
            "KeyConditionExpression": "#partition = :keys",
            "ExpressionAttributeNames": {"#partition": INDEX_PARTITION_KEY},
            "ExpressionAttributeValues": {":keys": string(keys.API_KEYS_INDEX_PARTITION)},
        }
        while True:
            with store_errors():
                response = self._client.query(**request)
            found.extend(api_key_from_item(item) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None:
                return found
            request["ExclusiveStartKey"] = start

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key; it is refused from now on. Raises `ApiKeyNotFound`,
        `ApiKeyAlreadyRevoked`."""
        token = uuid.uuid4().hex
        now = format_timestamp(self._clock())
        with store_errors():
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=api_key_key(key_id),
                    UpdateExpression="SET #revoked = :now, #token = :token ADD #version :one",
                    ConditionExpression=(
                        f"attribute_exists({PARTITION_KEY}) AND attribute_not_exists(#revoked)"
                    ),
                    ExpressionAttributeNames={
                        "#revoked": REVOKED_AT,
                        "#token": REVOKE_TOKEN,
                        "#version": VERSION,
                    },
                    ExpressionAttributeValues={
                        ":now": string(now),
                        ":token": string(token),
                        ":one": number(1),
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                existing: Item | None = error.response.get("Item")  # type: ignore[assignment]
                if existing is None:
                    raise ApiKeyNotFound(key_id) from error
                if existing.get(REVOKE_TOKEN, {}).get("S") == token:
                    return api_key_from_item(existing)  # our first attempt revoked it
                raise ApiKeyAlreadyRevoked(key_id) from error
        return api_key_from_item(response["Attributes"])

    def _record(self, secret: str, account: str, scopes: Iterable[Scope], name: str) -> ApiKey:
        return ApiKey(
            key_id=key_id_of(secret),
            verifier=key_verifier(secret),
            account=account,
            scopes=frozenset(scopes),
            name=name,
            created_at=self._clock(),
        )
