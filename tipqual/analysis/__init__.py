"""Analysis of coded data: agreement, matrices and the stakeholder network."""
