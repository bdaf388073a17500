"""Helpers for tests that talk to the embedded host."""


def auth(host, role: str, department: str | None = None) -> dict:
    """The Authorization header of the demo key for (role, department)."""
    return {"Authorization": f"Bearer {host.keys[(role, department)]}"}
