"""Rescue cases and the people in them."""
