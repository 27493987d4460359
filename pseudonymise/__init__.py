"""Keyed pseudonyms, generalisation, match keys and encryption for transfer."""
