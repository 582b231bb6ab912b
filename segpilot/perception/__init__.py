"""VisualTokens, vision encoders (features + saliency) and pruning/ (Pruner protocol, methods)."""
