"""Travel coordination: outbound trips, inbound delegations, overlaps, calendar feeds."""
