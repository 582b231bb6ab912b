"""3D question answering over pruned visual tokens: VLM adapters and the answer type."""
