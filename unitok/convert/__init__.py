"""Released checkpoints -> one runtime bundle, random checkpoints in the released layout, and their helpers."""
