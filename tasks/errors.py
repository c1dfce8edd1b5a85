"""Errors raised by `tasks`."""


class TaskError(ValueError):
    """A task was asked for something it cannot give: an unknown name, a length of 0 or below,
    a batch size of 0, or a length beyond what the machine or the encoding allows."""
