// Build script. Today it only declares the cfgs the crate may test; the peer-library probes
// for the benches (LIBXSMM, OpenBLAS, oneDNN) and the C shims they need land with those
// benches.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
