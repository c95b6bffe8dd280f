"""Plain domain functions: they take an owner, typed arguments and the `Services`, and raise
`avatar_api.errors` exceptions. No HTTP, no Lambda events."""
