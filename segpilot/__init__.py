"""segpilot: 3D-aware visual token pruning for VLMs and VLA policies on multi-view RGB-D."""

__version__ = "0.1.0"
