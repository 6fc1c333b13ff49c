"""The command line: one module per verb; each parses its arguments and calls the library."""
