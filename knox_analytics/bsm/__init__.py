"""The BSM format: token layouts and tables (data), the vectorized decoder, the encoder."""
