"""Command line: `fnpool serve --local`, `fnpool wrapper`, `fnpool eval`."""
