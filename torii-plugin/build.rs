// Generates the Torii gRPC client (and the server trait the fake Torii implements in tests)
// from our own .proto subset, with a vendored protoc so no system install is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_with_config(
            config,
            &["proto/world.proto", "proto/types.proto"],
            &["proto"],
        )?;
    Ok(())
}
