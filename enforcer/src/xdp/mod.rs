//! Owns the data plane: bpffs, loading and attaching the XDP program, pinning,
//! and reading/writing the ban, allow, scope, config and counter maps.
//!
//! - [`bpffs`]: mounts a bpffs under `--bpffs` when none is there.
//! - [`loader`]: [`Program`] — loads the embedded object with the map
//!   capacities, re-using pinned maps; attaches to interfaces (native,
//!   generic, or native falling back to generic), pins the links so the
//!   program outlives the daemon, replaces a pinned link's program
//!   atomically on restart; [`unload`] detaches and removes every pin.
//! - [`dataplane`]: [`Dataplane`] — the pinned maps opened by path: bans,
//!   allow list, jail ids and scopes, observe mode, counters.
//! - [`scope`]: [`JailScope`], which packets of a banned source a jail drops.
//! - [`net`]: [`IpNet`], an address or CIDR, with strict parsing.
//! - [`clock`]: wall-clock expiry <-> kernel CLOCK_BOOTTIME nanoseconds.
//!
//! Map layouts are in the `common` crate, shared with `enforcer-ebpf`.
pub mod batch;
pub mod bpffs;
pub mod clock;
pub mod dataplane;
pub mod loader;
pub mod net;
pub mod scope;

use std::path::PathBuf;

pub use dataplane::{BanEntry, Dataplane, JailStats, Stats};
pub use loader::{AttachMode, AttachedMode, Attachment, Capacities, Program, Unloaded, unload};
pub use net::{IpNet, IpNetError};
pub use scope::JailScope;

/// The XDP object embedded at build time (`ENFORCER_EBPF_OBJ`, see
/// `build.rs`); empty in a plain `cargo build`.
pub static EMBEDDED_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/enforcer.bpf.o"));

/// Whether this binary carries the real XDP program.
pub fn has_embedded_object() -> bool {
    !EMBEDDED_OBJECT.is_empty()
}

/// Everything that can go wrong in the data plane. Display is a sentence an
/// operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    #[error(
        "this enforcer was built without the XDP program (plain `cargo build`); \
         build it with `cargo xtask build-ebpf` / `cargo xtask run`"
    )]
    NoEmbeddedObject,
    #[error("bpffs at {path}: {what}: {source}")]
    Bpffs {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("loading the XDP program: {0}")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("the XDP program: {what}: {source}")]
    Program {
        what: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("no interface named '{0}'")]
    UnknownInterface(String),
    #[error("attaching XDP to {iface} ({mode} mode): {source}")]
    Attach {
        iface: String,
        mode: &'static str,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("pinning {path}: {source}")]
    Pin {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "no pinned enforcer maps under {0}: the daemon has not loaded the XDP program \
         there (or `enforcer unload` removed it)"
    )]
    NotLoaded(PathBuf),
    #[error(
        "map {map} pinned at {path} does not match this build ({detail}); run `enforcer unload` first"
    )]
    IncompatiblePin {
        map: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: Box<aya::maps::MapError>,
    },
    #[error(
        "map {map} is full ({capacity} entries); raise --max-bans/--max-prefixes or unban first"
    )]
    MapFull { map: &'static str, capacity: u32 },
    #[error("jail id {0} is out of range (0..=63)")]
    JailIdOutOfRange(u8),
    #[error("all 64 XDP jail slots are taken; cannot add jail '{0}'")]
    JailSlotsFull(String),
    #[error("jail name '{0}' is empty or longer than 63 bytes")]
    BadJailName(String),
    #[error("jail scope: {0}")]
    Scope(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl XdpError {
    fn map(map: &'static str, source: aya::maps::MapError) -> XdpError {
        XdpError::Map {
            map,
            source: Box::new(source),
        }
    }
}
