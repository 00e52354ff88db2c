"""vggt_py: VGGT, clean and tested."""
