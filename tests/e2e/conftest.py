"""End-to-end tests share the process fixtures of tests/conftest.py."""
