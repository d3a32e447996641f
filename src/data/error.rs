//! The error of every data reader and writer.

use thiserror::Error;

/// Errors reading or validating data files; each names the file and the key or value at fault.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file cannot be opened or is not an NPZ archive.
    #[error("{path}: {message}")]
    File {
        /// File.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A required key is absent.
    #[error("{path}: missing key '{key}' (keys present: {present})")]
    Missing {
        /// File.
        path: String,
        /// Key.
        key: String,
        /// Keys that are there.
        present: String,
    },
    /// A key has the wrong dtype, rank or shape, or bad values.
    #[error("{path}: key '{key}': {message}")]
    Key {
        /// File.
        path: String,
        /// Key.
        key: String,
        /// What is wrong, with the shape or value.
        message: String,
    },
}
