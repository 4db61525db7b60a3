//! [`Program`]: loading the XDP object, attaching it, and keeping it
//! attached across daemon restarts; [`unload`] undoes all of it.
//!
//! Pins under the bpffs directory (default `/sys/fs/bpf/enforcer`):
//! - one file per map, named as in `common` (`ENF_BANS4`, ...). A new load
//!   re-uses pinned maps, so bans survive restarts;
//! - `links/IFACE@MODE`, one bpf_link per interface (`MODE` is `native` or
//!   `generic`). A pinned link keeps the program attached after the daemon
//!   exits; the next daemon swaps its freshly loaded program into the same
//!   link with `BPF_LINK_UPDATE`, so there is no moment without a program.
use std::{
    ffi::CString,
    fmt,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::MapInfo,
    programs::{
        ProgramError, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        xdp::XdpLink,
    },
};
use common::{DEFAULT_MAX_ALLOW, DEFAULT_MAX_BANS, DEFAULT_MAX_PREFIXES, PROGRAM_NAME};

use super::{EMBEDDED_OBJECT, XdpError, bpffs, dataplane::Dataplane};

/// Map capacities, per address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacities {
    /// Exact-address bans (`--max-bans`).
    pub max_bans: u32,
    /// Prefix (CIDR) bans (`--max-prefixes`).
    pub max_prefixes: u32,
    /// Allow-list entries.
    pub max_allow: u32,
}

impl Default for Capacities {
    fn default() -> Self {
        Capacities {
            max_bans: DEFAULT_MAX_BANS,
            max_prefixes: DEFAULT_MAX_PREFIXES,
            max_allow: DEFAULT_MAX_ALLOW,
        }
    }
}

/// The attach mode asked for (`--xdp-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// Native, falling back to generic with a warning naming the interface.
    Auto,
    Native,
    Generic,
}

impl From<crate::cli::XdpMode> for AttachMode {
    fn from(m: crate::cli::XdpMode) -> Self {
        match m {
            crate::cli::XdpMode::Auto => AttachMode::Auto,
            crate::cli::XdpMode::Native => AttachMode::Native,
            crate::cli::XdpMode::Generic => AttachMode::Generic,
        }
    }
}

/// The mode an interface ended up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachedMode {
    Native,
    Generic,
}

impl AttachedMode {
    fn name(self) -> &'static str {
        match self {
            AttachedMode::Native => "native",
            AttachedMode::Generic => "generic",
        }
    }

    fn aya(self) -> XdpMode {
        match self {
            AttachedMode::Native => XdpMode::Driver,
            AttachedMode::Generic => XdpMode::Skb,
        }
    }
}

impl fmt::Display for AttachedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One interface the program is attached to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    pub iface: String,
    pub mode: AttachedMode,
    /// An existing pinned link got the new program (restart without a gap).
    pub replaced: bool,
}

/// The loaded XDP program and its pinned maps.
pub struct Program {
    ebpf: Ebpf,
    dir: PathBuf,
    attached: Vec<Attachment>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("dir", &self.dir)
            .field("attached", &self.attached)
            .finish_non_exhaustive()
    }
}

/// (map, key size, value size, capacity) as this build creates them.
fn expected_maps(caps: &Capacities) -> [(&'static str, u32, u32, Option<u32>); 11] {
    use common::*;
    use std::mem::size_of;
    let ban = size_of::<BanValue>() as u32;
    let allow = size_of::<AllowValue>() as u32;
    [
        (MAP_BANS_V4, 4, ban, Some(caps.max_bans)),
        (MAP_BANS_V6, 16, ban, Some(caps.max_bans)),
        (MAP_PREFIX_V4, 8, ban, Some(caps.max_prefixes)),
        (MAP_PREFIX_V6, 20, ban, Some(caps.max_prefixes)),
        (MAP_ALLOW_V4, 8, allow, Some(caps.max_allow)),
        (MAP_ALLOW_V6, 20, allow, Some(caps.max_allow)),
        (MAP_SCOPES, 4, size_of::<JailScope>() as u32, None),
        (MAP_RULES, 4, size_of::<ScopeRules>() as u32, None),
        (MAP_JAIL_NAMES, 4, size_of::<JailName>() as u32, None),
        (MAP_CONFIG, 4, size_of::<Config>() as u32, None),
        (MAP_COUNTERS, 4, size_of::<Counters>() as u32, None),
    ]
}

impl Program {
    /// Loads the embedded object (see [`super::EMBEDDED_OBJECT`]).
    pub fn load(bpffs: &Path, caps: &Capacities) -> Result<Program, XdpError> {
        Self::load_object(EMBEDDED_OBJECT, bpffs, caps)
    }

    /// Mounts bpffs if needed, creates (or re-opens) the pinned maps under
    /// `bpffs` with `caps`, and loads the program into the kernel (the
    /// verifier runs here). Nothing is attached yet.
    pub fn load_object(obj: &[u8], bpffs: &Path, caps: &Capacities) -> Result<Program, XdpError> {
        if obj.is_empty() {
            return Err(XdpError::NoEmbeddedObject);
        }
        bpffs::ensure(bpffs)?;
        check_pins(bpffs, caps)?;
        let mut loader = EbpfLoader::new();
        for (name, _, _, cap) in expected_maps(caps) {
            loader.map_pin_path(name, bpffs.join(name));
            if let Some(cap) = cap {
                loader.map_max_entries(name, cap);
            }
        }
        let mut ebpf = loader.load(obj).map_err(|e| XdpError::Load(Box::new(e)))?;
        let prog = xdp_of(&mut ebpf)?;
        prog.load().map_err(|e| XdpError::Program {
            what: "verifying and loading",
            source: Box::new(e),
        })?;
        let program = Program {
            ebpf,
            dir: bpffs.to_path_buf(),
            attached: Vec::new(),
        };
        // Fresh maps have an empty rule table (nothing would be in scope);
        // pinned ones are recompiled by this build.
        program.dataplane()?.compile_scopes()?;
        Ok(program)
    }

    /// The bpffs directory holding the pins.
    pub fn bpffs(&self) -> &Path {
        &self.dir
    }

    /// The aya program, e.g. for `BPF_PROG_TEST_RUN` in tests.
    pub fn xdp(&mut self) -> &mut Xdp {
        xdp_of(&mut self.ebpf).expect("checked at load")
    }

    /// Runs the program once on `packet` with `BPF_PROG_TEST_RUN` (no
    /// interface involved) and returns its XDP action (1 drop, 2 pass).
    pub fn test_run(&mut self, packet: &[u8]) -> Result<u32, XdpError> {
        self.test_run_repeat(packet, 1).map(|(action, _)| action)
    }

    /// Runs the program `repeat` times on `packet` in the kernel; returns
    /// the action and the kernel's mean time per run (for benchmarks).
    /// Counters count every run.
    pub fn test_run_repeat(
        &mut self,
        packet: &[u8],
        repeat: u32,
    ) -> Result<(u32, std::time::Duration), XdpError> {
        use aya::programs::{TestRun as _, TestRunOptions};
        let opts = TestRunOptions {
            data_in: Some(packet),
            repeat,
            ..Default::default()
        };
        self.xdp()
            .test_run(opts)
            .map(|r| (r.return_value, r.duration))
            .map_err(|e| XdpError::Program {
                what: "BPF_PROG_TEST_RUN",
                source: Box::new(e),
            })
    }

    /// Instructions the verifier processed when loading (kernel ≥ 5.16).
    pub fn verified_insns(&mut self) -> Option<u32> {
        self.xdp().info().ok()?.verified_instruction_count()
    }

    /// The pinned maps, for bans and counters.
    pub fn dataplane(&self) -> Result<Dataplane, XdpError> {
        Dataplane::open_pinned(&self.dir)
    }

    /// What [`Program::attach`] did so far.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attached
    }

    /// Attaches to `iface`. If a link for it is pinned (the previous
    /// daemon's), its program is replaced atomically; otherwise a new link
    /// is created and pinned.
    pub fn attach(&mut self, iface: &str, mode: AttachMode) -> Result<Attachment, XdpError> {
        let ifindex = ifindex(iface)?;
        let links = self.dir.join("links");
        std::fs::create_dir_all(&links).map_err(|source| XdpError::Io {
            what: "creating",
            path: links.clone(),
            source,
        })?;
        for existing in [AttachedMode::Native, AttachedMode::Generic] {
            let pin = link_pin(&links, iface, existing);
            if !pin.exists() {
                continue;
            }
            let conflicts = matches!(
                (mode, existing),
                (AttachMode::Native, AttachedMode::Generic)
                    | (AttachMode::Generic, AttachedMode::Native)
            );
            if conflicts {
                log::warn!(
                    "{iface}: switching XDP from {existing} to the requested mode; \
                     packets pass unfiltered for a moment"
                );
                detach_pin(&pin)?;
                continue;
            }
            match self.replace(&pin) {
                Ok(()) => return Ok(self.record(iface, existing, true)),
                Err(e) if is_defunct(&e) => {
                    // The interface went away and came back: the old link
                    // is dead, attach anew.
                    log::info!("{iface}: pinned link is defunct; attaching anew");
                    remove_pin(&pin)?;
                }
                Err(e) => {
                    return Err(XdpError::Attach {
                        iface: iface.to_string(),
                        mode: existing.name(),
                        source: Box::new(e),
                    });
                }
            }
        }
        let got = match mode {
            AttachMode::Native => self.attach_new(iface, ifindex, AttachedMode::Native)?,
            AttachMode::Generic => self.attach_new(iface, ifindex, AttachedMode::Generic)?,
            AttachMode::Auto => match self.attach_new(iface, ifindex, AttachedMode::Native) {
                Ok(m) => m,
                Err(e) => {
                    log::warn!("{iface}: native XDP unavailable ({e}); using generic mode");
                    self.attach_new(iface, ifindex, AttachedMode::Generic)?
                }
            },
        };
        Ok(self.record(iface, got, false))
    }

    fn record(&mut self, iface: &str, mode: AttachedMode, replaced: bool) -> Attachment {
        let a = Attachment {
            iface: iface.to_string(),
            mode,
            replaced,
        };
        self.attached.retain(|x| x.iface != iface);
        self.attached.push(a.clone());
        a
    }

    fn replace(&mut self, pin: &Path) -> Result<(), ProgramError> {
        let pinned = PinnedLink::from_pin(pin).map_err(|e| match e {
            aya::programs::links::LinkError::SyscallError(s) => ProgramError::SyscallError(s),
            other => ProgramError::IOError(std::io::Error::other(other.to_string())),
        })?;
        let fd: FdLink = pinned.into();
        let link = XdpLink::try_from(fd)
            .map_err(|e| ProgramError::IOError(std::io::Error::other(e.to_string())))?;
        self.xdp().attach_to_link(link)?;
        Ok(())
    }

    fn attach_new(
        &mut self,
        iface: &str,
        ifindex: u32,
        mode: AttachedMode,
    ) -> Result<AttachedMode, XdpError> {
        let err = |source| XdpError::Attach {
            iface: iface.to_string(),
            mode: mode.name(),
            source: Box::new(source),
        };
        let prog = self.xdp();
        let id = prog.attach_to_if_index(ifindex, mode.aya()).map_err(err)?;
        let link = prog.take_link(id).map_err(err)?;
        let fd = FdLink::try_from(link).map_err(|e| XdpError::Pin {
            path: self.dir.join("links"),
            source: format!("{iface}: the kernel attached without a bpf_link ({e}); cannot pin")
                .into(),
        })?;
        let pin = link_pin(&self.dir.join("links"), iface, mode);
        fd.pin(&pin).map_err(|e| XdpError::Pin {
            path: pin.clone(),
            source: Box::new(e),
        })?;
        Ok(mode)
    }
}

fn xdp_of(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    let prog = ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| XdpError::Program {
            what: "finding the program in the object",
            source: Box::new(ProgramError::IOError(std::io::Error::other(format!(
                "no program named {PROGRAM_NAME}"
            )))),
        })?;
    prog.try_into().map_err(|e| XdpError::Program {
        what: "the object's program is not XDP",
        source: Box::new(e),
    })
}

fn link_pin(links: &Path, iface: &str, mode: AttachedMode) -> PathBuf {
    links.join(format!("{iface}@{mode}"))
}

fn is_defunct(e: &ProgramError) -> bool {
    matches!(e, ProgramError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::ENOLINK))
}

fn ifindex(iface: &str) -> Result<u32, XdpError> {
    let c = CString::new(iface).map_err(|_| XdpError::UnknownInterface(iface.to_string()))?;
    // SAFETY: c is NUL-terminated.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(XdpError::UnknownInterface(iface.to_string())),
        i => Ok(i),
    }
}

/// Refuses pinned maps whose layout differs from this build's, and warns
/// when a pinned map's capacity differs from the one asked for.
fn check_pins(dir: &Path, caps: &Capacities) -> Result<(), XdpError> {
    for (name, key, value, cap) in expected_maps(caps) {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let info = MapInfo::from_pin(&path).map_err(|e| XdpError::map(name, e))?;
        if info.key_size() != key || info.value_size() != value {
            return Err(XdpError::IncompatiblePin {
                map: name,
                path,
                detail: format!(
                    "key/value size {}/{}, expected {key}/{value}",
                    info.key_size(),
                    info.value_size()
                ),
            });
        }
        if let Some(cap) = cap
            && info.max_entries() != cap
        {
            log::warn!(
                "{name} is pinned with capacity {}, not {cap}; the new capacity applies \
                 after `enforcer unload`",
                info.max_entries()
            );
        }
    }
    Ok(())
}

/// What [`unload`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Unloaded {
    /// Pinned links detached (`IFACE@MODE`).
    pub links: Vec<String>,
    /// Pinned maps removed.
    pub maps: Vec<String>,
}

/// Detaches every pinned link under `bpffs` and removes all pins (maps
/// too: bans are gone). Detaching uses `BPF_LINK_DETACH`, so it works even
/// while a daemon still holds the links open.
pub fn unload(bpffs: &Path) -> Result<Unloaded, XdpError> {
    let mut done = Unloaded::default();
    if !bpffs.exists() {
        return Ok(done);
    }
    let links = bpffs.join("links");
    if let Ok(entries) = std::fs::read_dir(&links) {
        for entry in entries.flatten() {
            detach_pin(&entry.path())?;
            done.links
                .push(entry.file_name().to_string_lossy().into_owned());
        }
        let _ = std::fs::remove_dir(&links);
    }
    for name in common::ALL_MAPS {
        let path = bpffs.join(name);
        if path.exists() {
            remove_pin(&path)?;
            done.maps.push(name.to_string());
        }
    }
    // Only empty directories go; ignore "not empty" (someone else's pins).
    let _ = std::fs::remove_dir(bpffs);
    done.links.sort();
    Ok(done)
}

fn remove_pin(path: &Path) -> Result<(), XdpError> {
    std::fs::remove_file(path).map_err(|source| XdpError::Io {
        what: "removing pin",
        path: path.to_path_buf(),
        source,
    })
}

/// Detaches the link pinned at `path` (even if others hold it open) and
/// removes the pin. A defunct link only needs its pin removed.
fn detach_pin(path: &Path) -> Result<(), XdpError> {
    let io = |source| XdpError::Io {
        what: "detaching link",
        path: path.to_path_buf(),
        source,
    };
    let fd = sys::obj_get(path).map_err(io)?;
    if let Err(e) = sys::link_detach(&fd)
        && e.raw_os_error() != Some(libc::ENOLINK)
    {
        return Err(io(e));
    }
    drop(fd);
    remove_pin(path)
}

/// The two bpf(2) commands aya does not expose for links.
mod sys {
    use super::*;

    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_LINK_DETACH: libc::c_long = 34;

    fn bpf(cmd: libc::c_long, attr: &mut [u64; 3]) -> std::io::Result<i64> {
        // SAFETY: attr points to a zero-initialised bpf_attr prefix of the
        // size passed; the kernel reads at most that many bytes.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr.as_mut_ptr(),
                std::mem::size_of_val(attr) as libc::c_uint,
            )
        };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    }

    pub fn obj_get(path: &Path) -> std::io::Result<OwnedFd> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // struct { __aligned_u64 pathname; __u32 bpf_fd; __u32 file_flags; ... }
        let mut attr = [c.as_ptr() as u64, 0, 0];
        let fd = bpf(BPF_OBJ_GET, &mut attr)?;
        // SAFETY: the kernel returned a new file descriptor we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    pub fn link_detach(fd: &OwnedFd) -> std::io::Result<()> {
        // struct { __u32 link_fd; }
        let mut attr = [fd.as_raw_fd() as u32 as u64, 0, 0];
        bpf(BPF_LINK_DETACH, &mut attr).map(|_| ())
    }
}
