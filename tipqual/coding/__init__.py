"""Codings made by people: CSV in and out, the review queue and merging copies."""
