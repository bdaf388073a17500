"""The composition root: the `oia` CLI and the embedded host that runs all four services in one process."""
