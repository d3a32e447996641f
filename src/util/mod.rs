//! Small helpers every layer may use, importing nothing else of the crate: atomic file writes
//! and process memory ([`fs`]), the seeded SplitMix64 generator ([`rng`]), PNG pictures
//! ([`plot`]) and text formatting ([`text`]).

pub mod fs;
pub mod plot;
pub mod rng;
pub mod text;
