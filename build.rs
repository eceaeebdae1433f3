// Compiles proto/ with protox (pure Rust), so building needs no system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let scistream = protox::compile(["proto/scistream.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(scistream)?;
    // etcd is only ever a server we call.
    let etcd = protox::compile(["proto/etcd.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(etcd)?;
    Ok(())
}
