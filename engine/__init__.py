"""Engine: base network, datasets, training, patch files and the patch system (no UI)."""
