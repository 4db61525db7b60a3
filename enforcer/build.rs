//! Embeds the XDP object built by `cargo xtask build-ebpf`.
//!
//! xtask passes the object's path in `ENFORCER_EBPF_OBJ`. Without it (a plain
//! `cargo build`/`cargo test`, no bpf-linker needed) an empty stub is embedded
//! and the daemon says at run time that XDP is unavailable in this build.
//!
//! It also lists every file under `defaults/` (the embedded default
//! configuration) in `$OUT_DIR/defaults.rs` as `DEFAULT_FILES`.
use std::{
    env, fs,
    path::{Path, PathBuf},
};

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    embed_defaults(&out_dir);
    let out = out_dir.join("enforcer.bpf.o");
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

/// Writes `DEFAULT_FILES: &[(&str, &[u8])]`, relative path and contents of
/// every file under `defaults/`, sorted by path.
fn embed_defaults(out_dir: &Path) {
    let root =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir")).join("defaults");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut code =
        String::from("/// The embedded default configuration: (relative path, contents).\n");
    code.push_str("pub static DEFAULT_FILES: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let abs = root.join(rel);
        println!("cargo:rerun-if-changed={}", abs.display());
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = out_dir.join("defaults.rs");
    if fs::read_to_string(&out).ok().as_deref() != Some(code.as_str()) {
        fs::write(&out, code).expect("writing defaults.rs");
    }
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(root, &path, files);
        } else if path.file_name().is_some_and(|n| n != "README.md") {
            let rel = path.strip_prefix(root).expect("under root");
            files.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
