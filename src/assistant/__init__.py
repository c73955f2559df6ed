"""coop-assistant: Italian search and answers over decentralised-cooperation documents."""

__version__ = "0.1.0"
