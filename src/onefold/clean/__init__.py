"""Cleaning and standardisation: normalisers (pure functions) and the stage that applies them."""
