"""Platform adapters (console, Slack, Discord) and the composition root; they depend on ``bot``, never the reverse."""
