"""The board's pages, one module per area."""
