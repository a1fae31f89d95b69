"""Textual terminal apps: the training app and the webcam tester."""
