"""The HTTP contract's bodies, one definition each, split by role.

* `fields` — the value types bodies are made of, derived from the domain's rules
  (`shared.validation`): each validates with the domain's own check and documents itself with a
  JSON Schema built from the same constants.
* `requests` — what clients send; unknown fields are rejected.
* `responses` — what the API answers. Every response body is built from the model that documents
  it (`OrderPublic.of(order)`, …) and written by `jsonio.encode_json`, so the OpenAPI document and
  the wire cannot drift apart and prices stay exact.
* `metadata` — the OpenAPI side of each operation: every status it can answer, with its body,
  headers, examples and links.
"""
