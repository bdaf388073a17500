"""Notifications: recipients, routing, templates, deliveries and the in-app feed."""
