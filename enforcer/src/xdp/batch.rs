//! Batched map operations (`BPF_MAP_{LOOKUP,UPDATE,DELETE}_BATCH`), which
//! aya 0.14 does not expose: one syscall moves thousands of entries of a
//! hash map, where aya's per-element calls cost one syscall each. A thin
//! safe wrapper over `bpf(2)`: the caller passes typed slices, the kernel
//! reads and writes exactly `count` elements of them.
//!
//! Also `BPF_OBJ_GET`, to hold our own descriptor of a pinned map (aya
//! keeps its descriptor private).
use std::{
    ffi::CString,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
};

use aya::Pod;

const BPF_OBJ_GET: libc::c_long = 7;
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;
const BPF_MAP_DELETE_BATCH: libc::c_long = 27;

/// `union bpf_attr`, the `batch` member.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `union bpf_attr`, the `BPF_OBJ_*` member.
#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    _pad: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly laid out prefix of `union bpf_attr`
    // for `cmd`, and its size is passed; the kernel writes only inside it
    // and through the pointers it holds, which the callers size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A new descriptor of the BPF object pinned at `path`.
pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        ..ObjAttr::default()
    };
    let fd = bpf(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: BPF_OBJ_GET returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Writes `keys[i] -> values[i]` in order (the kernel takes no
/// NOEXIST/EXIST here: every write is BPF_ANY). `Err((done, e))`: the first
/// `done` were written, element `done` failed with `e` and nothing after
/// it was tried.
pub fn update<K: Pod, V: Pod>(
    fd: &OwnedFd,
    keys: &[K],
    values: &[V],
) -> Result<(), (usize, io::Error)> {
    assert_eq!(keys.len(), values.len(), "one value per key");
    if keys.is_empty() {
        return Ok(());
    }
    let mut attr = BatchAttr {
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        count: keys.len() as u32,
        map_fd: fd.as_raw_fd() as u32,
        ..BatchAttr::default()
    };
    match bpf(BPF_MAP_UPDATE_BATCH, &mut attr) {
        Ok(_) => Ok(()),
        Err(e) => Err((done(&e, attr.count, keys.len()), e)),
    }
}

/// Deletes `keys` in order; `Err((done, e))` as for [`update`] (ENOENT
/// for a key that is not there).
pub fn delete<K: Pod>(fd: &OwnedFd, keys: &[K]) -> Result<(), (usize, io::Error)> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut attr = BatchAttr {
        keys: keys.as_ptr() as u64,
        count: keys.len() as u32,
        map_fd: fd.as_raw_fd() as u32,
        ..BatchAttr::default()
    };
    match bpf(BPF_MAP_DELETE_BATCH, &mut attr) {
        Ok(_) => Ok(()),
        Err(e) => Err((done(&e, attr.count, keys.len()), e)),
    }
}

/// How many elements a failed batch call did: the kernel writes `count`
/// back only once it started on the elements; a refusal before that
/// (EINVAL, EOPNOTSUPP) did none. One element failed, so at most `len - 1`.
fn done(e: &io::Error, count: u32, len: usize) -> usize {
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::EOPNOTSUPP | libc::EPERM | libc::EBADF) | None => 0,
        _ => (count as usize).min(len.saturating_sub(1)),
    }
}

/// Every entry of a hash map, read `chunk` at a time.
pub fn lookup_all<K: Pod, V: Pod>(fd: &OwnedFd, chunk: usize) -> io::Result<Vec<(K, V)>> {
    lookup_upto(fd, chunk, usize::MAX).map(Option::unwrap_or_default)
}

/// Every entry of a hash map, or `None` as soon as there are more than
/// `limit` (so the cost is bounded by `limit`, not by the map).
pub fn lookup_upto<K: Pod, V: Pod>(
    fd: &OwnedFd,
    chunk: usize,
    limit: usize,
) -> io::Result<Option<Vec<(K, V)>>> {
    let mut out = Vec::new();
    // SAFETY (zeroed): Pod types are plain data for which all-zero bytes
    // are a valid value.
    let mut keys: Vec<K> = vec![unsafe { std::mem::zeroed() }; chunk];
    let mut values: Vec<V> = vec![unsafe { std::mem::zeroed() }; chunk];
    // The hash map's batch token is a bucket index (u32); 8 bytes is ample.
    let mut token = 0u64;
    let mut first = true;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &mut token as *mut u64 as u64
            },
            out_batch: &mut token as *mut u64 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: chunk as u32,
            map_fd: fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        first = false;
        let r = bpf(BPF_MAP_LOOKUP_BATCH, &mut attr);
        let n = (attr.count as usize).min(chunk);
        match r {
            Ok(_) => out.extend(keys[..n].iter().copied().zip(values[..n].iter().copied())),
            // ENOENT: the walk is over; the last chunk is in `count`.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                out.extend(keys[..n].iter().copied().zip(values[..n].iter().copied()));
                return Ok(Some(out));
            }
            Err(e) => return Err(e),
        }
        if out.len() > limit {
            return Ok(None);
        }
    }
}
