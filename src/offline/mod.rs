//! Offline commands: `wadm profile` (a trades file through the indicator maths) and
//! `wadm replay` (a recording of raw venue frames through the live parsers and aggregators).

pub mod profile;
pub mod replay;
