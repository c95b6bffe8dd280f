"""The Personalized Avatar Service's REST API: Lambda handlers behind API Gateway (docs/design.md §4).

Layout: `routers/` (HTTP: Powertools routes, request/response models), `domain/` (plain functions that
know nothing of HTTP or events), `aws.py` (small classes around S3 and the SageMaker runtime),
`handlers/` (one Lambda entry point per function of `avatar_contract.routes`), `app.py` (every router
in one resolver: the OpenAPI document and the local cloud use it).
"""
