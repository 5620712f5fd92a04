class DomainError(ValueError):
    """A request the rules refuse, with a message a person can act on.

    ``field`` names the form field the message belongs next to, if any.
    """

    def __init__(self, message: str, *, field: str | None = None):
        self.message = message
        self.field = field
        super().__init__(message)
