"""The project's lock files: every Python environment installs from a hash-pinned lock (`make locks`)."""
