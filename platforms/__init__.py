"""The platform ports: one package per platform holds everything that knows its wire format."""
