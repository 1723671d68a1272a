"""Language processing with spaCy: the pipeline, the lemmatizer and the rulers."""
