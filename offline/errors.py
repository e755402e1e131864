"""Errors of the offline run's set-up."""


class OfflineRunError(RuntimeError):
    """The offline run could not be set up (template, substitutions, definition); the message says where."""


class DefinitionError(OfflineRunError):
    """The substituted definition is not one Step Functions would accept."""
