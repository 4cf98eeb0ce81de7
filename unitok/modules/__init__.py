"""PyTorch modules whose names mirror the released checkpoints' module trees (a state-dict key leads to its code)."""
