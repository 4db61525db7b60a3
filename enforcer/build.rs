//! Embeds the XDP object built by `cargo xtask build-ebpf`.
//!
//! xtask passes the object's path in `ENFORCER_EBPF_OBJ`. Without it (a plain
//! `cargo build`/`cargo test`, no bpf-linker needed) an empty stub is embedded
//! and the daemon says at run time that XDP is unavailable in this build.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("enforcer.bpf.o");
    println!("cargo:rerun-if-env-changed=ENFORCER_EBPF_OBJ");
    let bytes = match env::var_os("ENFORCER_EBPF_OBJ") {
        Some(src) => {
            let src = PathBuf::from(src);
            println!("cargo:rerun-if-changed={}", src.display());
            fs::read(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()))
        }
        None => Vec::new(),
    };
    if fs::read(&out).ok().as_deref() != Some(bytes.as_slice()) {
        fs::write(&out, &bytes).expect("writing the embedded XDP object");
    }
}
