"""OpenCL C sources of the base-network forward pass, shipped as package data."""
