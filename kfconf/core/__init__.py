"""Types every stage shares: source locations, diagnostics and the error tree, resource identity."""
