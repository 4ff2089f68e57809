"""Exports of what a channel was posted: its RSS feed and its markdown digest."""
