"""Vision-language-action policies (CogVLA-style routing)."""
