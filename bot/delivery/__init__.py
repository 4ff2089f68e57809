"""Delivery: the digest runner, cards, the publisher router, the scheduler and its pure schedule maths."""
