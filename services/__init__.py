"""CVT services: one package each, independently deployable."""
