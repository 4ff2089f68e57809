"""Delivery: the digest runner, cards, post keys and part-by-part thread posting, the publisher router, the
scheduler (with the catch-up) and its pure schedule maths."""
