"""Codebooks: the model, its validation and its file formats."""
