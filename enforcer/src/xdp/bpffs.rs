//! Makes sure the `--bpffs` directory is on a bpffs, mounting one when it is
//! not (this VM, like many minimal systems, does not mount it at boot).
//!
//! Where to mount: if the directory's parent is the conventional
//! `/sys/fs/bpf` mount point, mount there (so other tools find their pins
//! too) and create the directory inside; otherwise mount on the directory
//! itself, never over an arbitrary parent such as `/tmp`.
use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
};

use super::XdpError;

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
const CONVENTIONAL: &str = "/sys/fs/bpf";

/// Whether `path` exists and is on a bpffs.
pub fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated, st is a valid out-pointer.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// Ensures `dir` exists on a bpffs; returns where a bpffs was mounted, if
/// this call mounted one.
pub fn ensure(dir: &Path) -> Result<Option<PathBuf>, XdpError> {
    if is_bpffs(dir) {
        return Ok(None);
    }
    let nearest = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    if nearest != dir && is_bpffs(nearest) {
        create_dir(dir)?;
        return Ok(None);
    }
    if dir.exists() && !dir.is_dir() {
        return Err(XdpError::Bpffs {
            path: dir.to_path_buf(),
            what: "not a directory",
            source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
        });
    }
    let conventional = Path::new(CONVENTIONAL);
    let target = if dir.parent() == Some(conventional) && conventional.is_dir() {
        conventional.to_path_buf()
    } else {
        create_dir(dir)?;
        dir.to_path_buf()
    };
    mount(&target)?;
    create_dir(dir)?;
    log::info!("mounted bpffs at {}", target.display());
    Ok(Some(target))
}

fn create_dir(dir: &Path) -> Result<(), XdpError> {
    std::fs::create_dir_all(dir).map_err(|source| XdpError::Bpffs {
        path: dir.to_path_buf(),
        what: "creating the directory",
        source,
    })
}

fn mount(target: &Path) -> Result<(), XdpError> {
    let err = |source| XdpError::Bpffs {
        path: target.to_path_buf(),
        what: "mounting bpffs",
        source,
    };
    let c = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| err(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    let fstype = c"bpf";
    let opts = c"mode=0700";
    // SAFETY: all pointers are NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            c.as_ptr(),
            fstype.as_ptr(),
            0,
            opts.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Unmounts a bpffs this process (or a test) mounted on `target`.
pub fn unmount(target: &Path) -> Result<(), XdpError> {
    let err = |source| XdpError::Bpffs {
        path: target.to_path_buf(),
        what: "unmounting",
        source,
    };
    let c = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| err(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    // SAFETY: c is NUL-terminated.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_is_not_bpffs() {
        assert!(!is_bpffs(&std::env::temp_dir()));
        assert!(!is_bpffs(Path::new("/nonexistent/enforcer")));
    }
}
