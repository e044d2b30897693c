//! orca's plan model. Pure: no I/O. The parser, validation, importers,
//! exporters and graph algorithms land here (see docs/plan-format.md).
