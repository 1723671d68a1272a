"""Exchange with other QDA tools: REFI-QDA (.qdpx, .qdc) import and export."""
