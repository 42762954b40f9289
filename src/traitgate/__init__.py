"""traitgate: find hidden behavioural traits in language models, as pytest gates."""

__version__ = "0.1.0"
