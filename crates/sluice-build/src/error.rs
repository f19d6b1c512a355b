use std::path::PathBuf;

/// Why code generation or a schema check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("protoc failed: {0}")]
    Protoc(String),
    #[error("prost-build failed: {0}")]
    ProstBuild(String),
    #[error("{path}: invalid Avro schema: {reason}")]
    Avro { path: PathBuf, reason: String },
    #[error("{subject}: {reason}")]
    Event { subject: String, reason: String },
    #[error(transparent)]
    Registry(#[from] sluice_core::RegistryError),
    #[error("schema registry is not up to date:\n{0}")]
    Unregistered(String),
    #[error("incompatible schema changes:\n{0}")]
    Incompatible(String),
}
