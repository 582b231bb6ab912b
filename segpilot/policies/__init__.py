"""Language-side consumers of the kept tokens: qa/ (VLM adapters) and vla/ (action policies)."""
