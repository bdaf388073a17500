"""Mechanism every service shares: settings, database, envelope, bus, outbox, inbox, auth, logging."""
