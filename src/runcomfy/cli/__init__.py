"""The command-line layer: the only code that writes to the terminal or decides the exit code."""
