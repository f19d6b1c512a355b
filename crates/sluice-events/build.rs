fn main() -> Result<(), Box<dyn std::error::Error>> {
    sluice_build::Builder::new()
        .protos("../../proto")
        .avro("../../schemas")
        .registry("../../registry/manifest.toml")
        .compile()?;
    Ok(())
}
