"""The coordination board: the OIA's people's screen over the four services' public APIs."""
