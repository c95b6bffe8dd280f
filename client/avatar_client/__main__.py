"""`python -m avatar_client` = the `avatar` CLI."""

from avatar_client.cli import main

raise SystemExit(main())
