"""Vision-encoder adapters: a registry of built-ins plus local transformers checkpoints."""
