"""The console chat: the terminal as one more chat platform."""
