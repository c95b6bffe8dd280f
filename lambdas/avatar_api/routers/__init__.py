"""HTTP layer: Powertools routers, one per Lambda function of `avatar_contract.routes`."""
