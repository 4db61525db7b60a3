//! Owns the binding to libsystemd's sd-journal API, loaded at run time with
//! `dlopen("libsystemd.so.0")`: building and the file backends need no
//! libsystemd at all, and a host without it gets a clear error only when a
//! jail asks for `backend = systemd`. Journal files are read directly, so
//! no running journald is needed (`journalpath`, `journalfiles`).
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

use super::super::SourceError;

#[repr(C)]
pub struct RawJournal {
    _private: [u8; 0],
}

macro_rules! api {
    ($($name:ident: fn($($arg:ty),*) -> $ret:ty;)*) => {
        #[allow(non_snake_case)]
        pub struct Api { $(pub $name: unsafe extern "C" fn($($arg),*) -> $ret,)* }
        fn load(lib: *mut c_void) -> Result<Api, String> {
            Ok(Api { $($name: {
                let sym = concat!(stringify!($name), "\0");
                // SAFETY: lib is a live handle; the name is NUL-terminated.
                let p = unsafe { libc::dlsym(lib, sym.as_ptr().cast()) };
                if p.is_null() {
                    return Err(format!("libsystemd lacks {}", stringify!($name)));
                }
                // SAFETY: the symbol has this C signature in sd-journal.h.
                unsafe { std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) -> $ret>(p) }
            },)* })
        }
    };
}

api! {
    sd_journal_open: fn(*mut *mut RawJournal, c_int) -> c_int;
    sd_journal_open_directory: fn(*mut *mut RawJournal, *const c_char, c_int) -> c_int;
    sd_journal_open_files: fn(*mut *mut RawJournal, *const *const c_char, c_int) -> c_int;
    sd_journal_open_namespace: fn(*mut *mut RawJournal, *const c_char, c_int) -> c_int;
    sd_journal_close: fn(*mut RawJournal) -> ();
    sd_journal_add_match: fn(*mut RawJournal, *const c_void, usize) -> c_int;
    sd_journal_add_disjunction: fn(*mut RawJournal) -> c_int;
    sd_journal_next: fn(*mut RawJournal) -> c_int;
    sd_journal_previous: fn(*mut RawJournal) -> c_int;
    sd_journal_seek_tail: fn(*mut RawJournal) -> c_int;
    sd_journal_seek_cursor: fn(*mut RawJournal, *const c_char) -> c_int;
    sd_journal_test_cursor: fn(*mut RawJournal, *const c_char) -> c_int;
    sd_journal_seek_realtime_usec: fn(*mut RawJournal, u64) -> c_int;
    sd_journal_get_cursor: fn(*mut RawJournal, *mut *mut c_char) -> c_int;
    sd_journal_get_realtime_usec: fn(*mut RawJournal, *mut u64) -> c_int;
    sd_journal_get_monotonic_usec: fn(*mut RawJournal, *mut u64, *mut [u8; 16]) -> c_int;
    sd_journal_restart_data: fn(*mut RawJournal) -> ();
    sd_journal_enumerate_data: fn(*mut RawJournal, *mut *const c_void, *mut usize) -> c_int;
    sd_journal_set_data_threshold: fn(*mut RawJournal, usize) -> c_int;
    sd_journal_wait: fn(*mut RawJournal, u64) -> c_int;
}

/// The loaded library, once per process.
pub fn api() -> Result<&'static Api, SourceError> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        // SAFETY: dlopen with a constant NUL-terminated name.
        let lib = unsafe {
            libc::dlopen(
                c"libsystemd.so.0".as_ptr(),
                libc::RTLD_NOW | libc::RTLD_LOCAL,
            )
        };
        if lib.is_null() {
            // SAFETY: dlerror returns a static message or null.
            let e = unsafe { libc::dlerror() };
            let msg = if e.is_null() {
                "unknown error".to_string()
            } else {
                // SAFETY: non-null dlerror strings are NUL-terminated.
                unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
            };
            return Err(format!(
                "cannot load libsystemd.so.0 ({msg}); install libsystemd0"
            ));
        }
        load(lib)
    })
    .as_ref()
    .map_err(|e| SourceError::Journal(e.clone()))
}

fn check(what: &str, r: c_int) -> Result<c_int, SourceError> {
    if r < 0 {
        Err(SourceError::Journal(format!(
            "{what}: {}",
            std::io::Error::from_raw_os_error(-r)
        )))
    } else {
        Ok(r)
    }
}

fn cstr(s: &str) -> Result<CString, SourceError> {
    CString::new(s).map_err(|_| SourceError::Journal(format!("{s:?} contains NUL")))
}

/// An open journal. Not `Sync`: used by the one reader thread that opened it.
pub struct Journal {
    api: &'static Api,
    j: *mut RawJournal,
}

/// What `sd_journal_wait` reported.
pub const SD_JOURNAL_NOP: c_int = 0;

impl Journal {
    fn wrap(
        what: &str,
        open: impl FnOnce(&Api, *mut *mut RawJournal) -> c_int,
    ) -> Result<Journal, SourceError> {
        let api = api()?;
        let mut j = std::ptr::null_mut();
        check(what, open(api, &mut j))?;
        Ok(Journal { api, j })
    }

    pub fn open_local(flags: c_int) -> Result<Journal, SourceError> {
        // SAFETY: valid out pointer.
        Journal::wrap("sd_journal_open", |a, j| unsafe {
            (a.sd_journal_open)(j, flags)
        })
    }

    pub fn open_directory(path: &str, flags: c_int) -> Result<Journal, SourceError> {
        let p = cstr(path)?;
        // SAFETY: valid out pointer and NUL-terminated path.
        Journal::wrap(&format!("open {path}"), |a, j| unsafe {
            (a.sd_journal_open_directory)(j, p.as_ptr(), flags)
        })
    }

    pub fn open_files(files: &[String], flags: c_int) -> Result<Journal, SourceError> {
        let c: Vec<CString> = files.iter().map(|f| cstr(f)).collect::<Result<_, _>>()?;
        let mut ptrs: Vec<*const c_char> = c.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: a NULL-terminated array of NUL-terminated strings that outlive the call.
        Journal::wrap("open journal files", |a, j| unsafe {
            (a.sd_journal_open_files)(j, ptrs.as_ptr(), flags)
        })
    }

    pub fn open_namespace(ns: &str, flags: c_int) -> Result<Journal, SourceError> {
        let n = cstr(ns)?;
        // SAFETY: valid out pointer and NUL-terminated name.
        Journal::wrap(&format!("open namespace {ns}"), |a, j| unsafe {
            (a.sd_journal_open_namespace)(j, n.as_ptr(), flags)
        })
    }

    pub fn add_match(&mut self, m: &str) -> Result<(), SourceError> {
        // SAFETY: pointer and length of a live slice.
        check(&format!("journalmatch {m:?}"), unsafe {
            (self.api.sd_journal_add_match)(self.j, m.as_ptr().cast(), m.len())
        })
        .map(drop)
    }

    pub fn add_disjunction(&mut self) -> Result<(), SourceError> {
        // SAFETY: live journal.
        check("journalmatch '+'", unsafe {
            (self.api.sd_journal_add_disjunction)(self.j)
        })
        .map(drop)
    }

    /// Moves to the next entry; false at the end.
    pub fn next_entry(&mut self) -> Result<bool, SourceError> {
        // SAFETY: live journal.
        check("next", unsafe { (self.api.sd_journal_next)(self.j) }).map(|r| r > 0)
    }

    pub fn previous_entry(&mut self) -> Result<bool, SourceError> {
        // SAFETY: live journal.
        check("previous", unsafe {
            (self.api.sd_journal_previous)(self.j)
        })
        .map(|r| r > 0)
    }

    pub fn seek_tail(&mut self) -> Result<(), SourceError> {
        // SAFETY: live journal.
        check("seek tail", unsafe {
            (self.api.sd_journal_seek_tail)(self.j)
        })
        .map(drop)
    }

    pub fn seek_cursor(&mut self, c: &str) -> Result<(), SourceError> {
        let c = cstr(c)?;
        // SAFETY: live journal, NUL-terminated cursor.
        check("seek cursor", unsafe {
            (self.api.sd_journal_seek_cursor)(self.j, c.as_ptr())
        })
        .map(drop)
    }

    pub fn test_cursor(&mut self, c: &str) -> bool {
        let Ok(c) = cstr(c) else { return false };
        // SAFETY: live journal, NUL-terminated cursor.
        unsafe { (self.api.sd_journal_test_cursor)(self.j, c.as_ptr()) > 0 }
    }

    pub fn seek_realtime_usec(&mut self, usec: u64) -> Result<(), SourceError> {
        // SAFETY: live journal.
        check("seek time", unsafe {
            (self.api.sd_journal_seek_realtime_usec)(self.j, usec)
        })
        .map(drop)
    }

    pub fn cursor(&mut self) -> Result<String, SourceError> {
        let mut p: *mut c_char = std::ptr::null_mut();
        // SAFETY: live journal, valid out pointer.
        check("cursor", unsafe {
            (self.api.sd_journal_get_cursor)(self.j, &mut p)
        })?;
        // SAFETY: on success p is a malloc'ed NUL-terminated string we must free.
        let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        // SAFETY: p came from malloc in libsystemd.
        unsafe { libc::free(p.cast()) };
        Ok(s)
    }

    pub fn realtime_usec(&mut self) -> Result<u64, SourceError> {
        let mut t = 0u64;
        // SAFETY: live journal, valid out pointer.
        check("realtime", unsafe {
            (self.api.sd_journal_get_realtime_usec)(self.j, &mut t)
        })?;
        Ok(t)
    }

    pub fn monotonic_usec(&mut self) -> Result<u64, SourceError> {
        let (mut t, mut boot) = (0u64, [0u8; 16]);
        // SAFETY: live journal, valid out pointers.
        check("monotonic", unsafe {
            (self.api.sd_journal_get_monotonic_usec)(self.j, &mut t, &mut boot)
        })?;
        Ok(t)
    }

    /// Caps how much of one field is returned (0 = everything).
    pub fn set_data_threshold(&mut self, n: usize) {
        // SAFETY: live journal.
        unsafe { (self.api.sd_journal_set_data_threshold)(self.j, n) };
    }

    /// Calls `f` with every `FIELD=value` of the current entry.
    pub fn for_each_field(&mut self, mut f: impl FnMut(&[u8])) -> Result<(), SourceError> {
        // SAFETY: live journal.
        unsafe { (self.api.sd_journal_restart_data)(self.j) };
        loop {
            let (mut p, mut n): (*const c_void, usize) = (std::ptr::null(), 0);
            // SAFETY: live journal, valid out pointers.
            let r = check("fields", unsafe {
                (self.api.sd_journal_enumerate_data)(self.j, &mut p, &mut n)
            })?;
            if r == 0 {
                return Ok(());
            }
            // SAFETY: libsystemd returns n readable bytes at p, valid until the next call.
            f(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) });
        }
    }

    /// Waits up to `usec` for the journal to change.
    pub fn wait(&mut self, usec: u64) -> Result<c_int, SourceError> {
        // SAFETY: live journal.
        check("wait", unsafe { (self.api.sd_journal_wait)(self.j, usec) })
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // SAFETY: opened by us, closed once.
        unsafe { (self.api.sd_journal_close)(self.j) };
    }
}
