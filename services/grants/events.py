"""What grants publishes, and its own view of the events it reads (none yet)."""

from shared.envelope import EventRegistry

publishes = EventRegistry()
consumes = EventRegistry()
