"""The Personalized Avatar Service's REST API: Lambda handlers behind API Gateway (docs/design.md §4).

Layers (docs/development.md): `handlers/` (one Lambda entry point per function of
`avatar_contract.routes`) and `routers/` (HTTP: Powertools routes, request models, the error mapping) →
`domain/` (plain functions that know nothing of HTTP or events) → `adapters/` (every AWS or network
access). `services.py` builds the adapters; `app.py` holds every router in one resolver (the OpenAPI
document and the local cloud use it).
"""
