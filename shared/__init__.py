"""The project's own common library: what two or more CVT services need, written once."""
