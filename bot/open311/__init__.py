"""Open311 GeoReport v2: gridbot's tickets as service requests, and reports that become
tickets (`bot.open311.routes` serves them, `bot.open311.intake` turns a report into a
message, `bot.open311.requests` a ticket into a service request)."""
