"""The table, declared once as data.

Every consumer builds the table from `TABLE`: the local bootstrap (`om table create`, `om dev`),
every test fixture, the NoSQL Workbench export and the CDK data stack. Changing a key here changes
all of them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AttributeType = Literal["S", "N", "B"]


@dataclass(frozen=True, slots=True)
class KeyAttribute:
    """One key attribute: its name and DynamoDB scalar type."""

    name: str
    type: AttributeType


@dataclass(frozen=True, slots=True)
class GlobalIndex:
    """A global secondary index with its key schema and projection."""

    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute
    projection: Literal["ALL", "KEYS_ONLY"] = "ALL"


@dataclass(frozen=True, slots=True)
class TableSchema:
    """Key schema, indexes and TTL attribute of the single table."""

    partition_key: KeyAttribute
    sort_key: KeyAttribute
    global_indexes: tuple[GlobalIndex, ...]
    ttl_attribute: str

    def index(self, name: str) -> GlobalIndex:
        """The global index called `name`."""
        for index in self.global_indexes:
            if index.name == name:
                return index
        raise KeyError(name)

    def attribute_definitions(self) -> list[dict[str, str]]:
        """Every key attribute of the table and its indexes, once each, in declaration order."""
        seen: dict[str, str] = {}
        for attribute in self._key_attributes():
            seen.setdefault(attribute.name, attribute.type)
        return [{"AttributeName": name, "AttributeType": kind} for name, kind in seen.items()]

    def key_schema(self) -> list[dict[str, str]]:
        """The table's KeySchema in CreateTable form."""
        return _key_schema(self.partition_key, self.sort_key)

    def global_secondary_indexes(self) -> list[dict[str, object]]:
        """The GlobalSecondaryIndexes in CreateTable form (on-demand billing, no throughput)."""
        return [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": index.projection},
            }
            for index in self.global_indexes
        ]

    def _key_attributes(self) -> list[KeyAttribute]:
        attributes = [self.partition_key, self.sort_key]
        for index in self.global_indexes:
            attributes += [index.partition_key, index.sort_key]
        return attributes


def _key_schema(partition: KeyAttribute, sort: KeyAttribute) -> list[dict[str, str]]:
    return [
        {"AttributeName": partition.name, "KeyType": "HASH"},
        {"AttributeName": sort.name, "KeyType": "RANGE"},
    ]


# The names every request expression and codec uses; nothing else spells them.
PARTITION_KEY = "PK"
SORT_KEY = "SK"
BOOK_INDEX = "GSI1"
INDEX_PARTITION_KEY = "GSI1PK"
INDEX_SORT_KEY = "GSI1SK"
TTL_ATTRIBUTE = "expiresAt"
"""Epoch seconds (a number) after which DynamoDB may delete the item."""

TABLE = TableSchema(
    partition_key=KeyAttribute(PARTITION_KEY, "S"),
    sort_key=KeyAttribute(SORT_KEY, "S"),
    global_indexes=(
        GlobalIndex(
            name=BOOK_INDEX,
            partition_key=KeyAttribute(INDEX_PARTITION_KEY, "S"),
            sort_key=KeyAttribute(INDEX_SORT_KEY, "S"),
            projection="ALL",
        ),
    ),
    ttl_attribute=TTL_ATTRIBUTE,
)
