"""Reusable fakes of the outside world for tests."""
