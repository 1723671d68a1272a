"""Proposed codes: rule scores, the learned model, the engine and its workers."""
