"""Neuralpatch: train and live-test neural patches on a fixed, pretrained base network."""

__version__ = "0.1.0"
