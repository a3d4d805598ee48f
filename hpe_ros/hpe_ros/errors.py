"""Errors that carry a message meant for the user (bad input, corrupt or mismatched files)."""


class HpeError(Exception):
    """Base class: the CLI prints the message without a traceback; the node reports it in /diagnostics."""


class ModelFileError(HpeError):
    """A model, ONNX or engine file is missing, corrupt, or does not match what the caller expects."""


class InputError(HpeError):
    """Input data (an image, a frame, a dataset folder, a video) cannot be used, with the reason."""
