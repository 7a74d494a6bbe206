"""The OpenAPI document as served: FastAPI's, mended in two places.

* FastAPI adds a component for every enum it meets in a field's annotation, even where the field
  declares its own schema (`side` is `Side` in Python and `{"type": "integer", "enum": [0, 1]}`
  on the wire). Such a component describes nothing a client sends or receives, and a client
  generator would still make a class of it, so it is dropped.
* FastAPI writes the document without `null`s, which also strips them from examples: a failed
  quote's example would lose its `"price": null` and stop being valid against its own schema.
  Each response body's examples are put back as its model declares them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from services.api.schemas.responses import ResponseBody

_REF_PREFIX = "#/components/schemas/"


def referenced_schemas(document: dict[str, Any]) -> set[str]:
    """The component schemas reachable from the paths, following references transitively."""
    components: dict[str, Any] = document.get("components", {}).get("schemas", {})
    found: set[str] = set()
    pending = [document.get("paths", {})]
    while pending:
        text = json.dumps(pending.pop())
        for name in _names_referenced(text):
            if name not in found and name in components:
                found.add(name)
                pending.append(components[name])
    return found


def _names_referenced(text: str) -> set[str]:
    names: set[str] = set()
    start = text.find(_REF_PREFIX)
    while start != -1:
        end = text.find('"', start)
        names.add(text[start + len(_REF_PREFIX) : end])
        start = text.find(_REF_PREFIX, end)
    return names


def _subclasses(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = list(model.__subclasses__())
    for subclass in model.__subclasses__():
        found.extend(_subclasses(subclass))
    return found


def restore_examples(schemas: dict[str, Any]) -> None:
    """Give each response body's component the examples its model declares, nulls included."""
    for model in _subclasses(ResponseBody):
        examples = model.model_json_schema(mode="serialization").get("examples")
        if examples and model.__name__ in schemas:
            schemas[model.__name__]["examples"] = examples


class DocumentedAPI(FastAPI):
    """A FastAPI app whose OpenAPI document holds only the schemas its operations use."""

    def openapi(self) -> dict[str, Any]:
        document = self.openapi_schema
        if document is None:
            document = super().openapi()  # cached by FastAPI: the pruning below happens once
            schemas = document.get("components", {}).get("schemas", {})
            used = referenced_schemas(document)
            for name in [name for name in schemas if name not in used]:
                del schemas[name]
            restore_examples(schemas)
        return document
