//! Sets `cfg(x86_simd)` when the AVX2/AVX-512 paths are compiled: on x86_64,
//! unless the `portable` feature asks for the build every other target gets
//! (scalar random numbers, no x86 intrinsics), so that build can be tested
//! on an x86 machine too.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(x86_simd)");
    println!("cargo::rerun-if-changed=build.rs");
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64");
    let portable = std::env::var_os("CARGO_FEATURE_PORTABLE").is_some();
    if x86_64 && !portable {
        println!("cargo::rustc-cfg=x86_simd");
    }
}
