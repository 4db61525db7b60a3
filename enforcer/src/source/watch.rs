//! Owns waiting for files to change: inotify on the directories that hold
//! them (events on any file there wake the reader), or plain polling; both
//! wake up at least every interval, so globs are re-evaluated and a missed
//! event costs at most one interval. A [`Waker`] interrupts the wait (stop).
use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{FileBackend, SourceError};

/// Wakes a [`Watcher`] from another thread.
#[derive(Debug, Clone)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    pub fn wake(&self) {
        let b = 1u8;
        // SAFETY: writing one byte from a valid buffer to an fd we own; a full
        // pipe (EAGAIN) already means the watcher will wake.
        unsafe { libc::write(self.fd.as_raw_fd(), (&b as *const u8).cast(), 1) };
    }
}

#[derive(Debug)]
pub struct Watcher {
    wake_r: OwnedFd,
    inotify: Option<OwnedFd>,
    watched: HashSet<PathBuf>,
    interval: Duration,
}

const MASK: u32 = libc::IN_MODIFY
    | libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_CLOSE_WRITE
    | libc::IN_ATTRIB;

impl Watcher {
    /// A watcher for `backend`; `Auto` falls back to polling when inotify is
    /// not available, `Inotify` refuses.
    pub fn new(backend: FileBackend, interval: Duration) -> Result<(Watcher, Waker), SourceError> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io_err("pipe"));
        }
        // SAFETY: pipe2 just returned these two fds, owned by nobody else.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let inotify = match backend {
            FileBackend::Polling => None,
            FileBackend::Auto | FileBackend::Inotify => {
                // SAFETY: no pointers; returns a new fd or -1.
                let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
                if fd >= 0 {
                    // SAFETY: a fresh fd we own.
                    Some(unsafe { OwnedFd::from_raw_fd(fd) })
                } else if backend == FileBackend::Inotify {
                    return Err(io_err("inotify"));
                } else {
                    log::warn!(
                        "inotify unavailable ({}), polling instead",
                        std::io::Error::last_os_error()
                    );
                    None
                }
            }
        };
        let w = Waker { fd: Arc::new(w) };
        Ok((
            Watcher {
                wake_r: r,
                inotify,
                watched: HashSet::new(),
                interval,
            },
            w,
        ))
    }

    pub fn uses_inotify(&self) -> bool {
        self.inotify.is_some()
    }

    /// Makes sure `dir` is watched (no-op when polling). Cheap to repeat: a
    /// directory removed and recreated is watched again.
    pub fn watch_dir(&mut self, dir: &Path) {
        let Some(ino) = &self.inotify else { return };
        let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
            return;
        };
        // SAFETY: valid fd and NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(ino.as_raw_fd(), c.as_ptr(), MASK) };
        if wd >= 0 {
            self.watched.insert(dir.to_path_buf());
        }
    }

    /// Waits for a change, a wake, or the interval; whichever comes first.
    pub fn wait(&mut self) {
        let mut pfd = vec![libc::pollfd {
            fd: self.wake_r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(i) = &self.inotify {
            pfd.push(libc::pollfd {
                fd: i.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let ms = self.interval.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: pfd is a valid array of pfd.len() pollfds.
        unsafe { libc::poll(pfd.as_mut_ptr(), pfd.len() as libc::nfds_t, ms) };
        for p in &pfd {
            if p.revents != 0 {
                drain(p.fd);
            }
        }
    }
}

fn drain(fd: i32) {
    let mut buf = [0u8; 4096];
    // SAFETY: reading into a valid buffer from a non-blocking fd we own.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

fn io_err(what: &str) -> SourceError {
    SourceError::Io {
        path: what.into(),
        source: std::io::Error::last_os_error(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn inotify_wakes_before_the_interval_and_waker_interrupts() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, waker) = Watcher::new(FileBackend::Inotify, Duration::from_secs(30)).unwrap();
        assert!(w.uses_inotify());
        w.watch_dir(dir.path());
        let p = dir.path().join("f");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(p, "x\n").unwrap();
        });
        let start = Instant::now();
        w.wait();
        assert!(start.elapsed() < Duration::from_secs(20));
        t.join().unwrap();
        waker.wake();
        let start = Instant::now();
        w.wait();
        assert!(start.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn polling_waits_for_the_interval() {
        let (mut w, _waker) =
            Watcher::new(FileBackend::Polling, Duration::from_millis(30)).unwrap();
        assert!(!w.uses_inotify());
        let start = Instant::now();
        w.wait();
        assert!(start.elapsed() >= Duration::from_millis(25));
    }
}
