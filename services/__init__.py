"""The four services. None imports another: they talk over the bus and HTTP."""
