"""The BSM format: token layouts, tables and the column map (data), the vectorized decoder,
the reference decoder on the scalar token reader, the encoder.  Map: docs/architecture.md."""
