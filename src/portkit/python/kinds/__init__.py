"""One unit per rule kind of the Python rewriter (see portkit.python.transform)."""
