"""The one error the cost inputs raise, so commands can report any of them the same way."""


class CostInputError(ValueError):
    """Price data or a usage profile is missing or wrong; the message names the key or file."""
