"""wtd: the self-healing work tracker daemon. Importing this package stays cheap."""

__version__ = "0.1.0"
