"""Console entry points: parse flags into the library's config and settings objects, call the library, turn user errors into one line and exit 2."""
