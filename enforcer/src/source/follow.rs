//! Owns one followed file path: reading what was appended, and noticing
//! rotation.
//!
//! Each poll first drains the files rotated away (they may still get a few
//! writes from a logger that has not reopened yet), then reads the current
//! file to its end, then compares the path with the open file:
//! - the path names another inode, or the open file has no links left
//!   (rename, delete+recreate, even when the new file reuses the inode
//!   number): the open file is retired (drained for two more polls, then
//!   its unfinished last line is delivered) and the new file is read from
//!   its start;
//! - the same file is now shorter than what was read, or its first line no
//!   longer hashes the same (copytruncate, also when it grew past the old
//!   size before the poll): it is read again from offset 0;
//! - the path is gone: the file is retired and the path waited for.
//!
//! Lines written to a copytruncate'd file between the copy and the truncate
//! are in the copy only; no reader of the original can see them.
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::lines::{LineSplitter, Split};
use super::{Encoding, FileMark, Start};
use crate::store::LogPosition;

/// Most bytes read from one file per poll, so one busy file cannot starve
/// the others (or a stop request).
const READ_BUDGET: u64 = 8 << 20;
/// How many polls, and for at least how long, a rotated-away file is still
/// drained (a logger writes to it until it reopens its file).
const RETIRE_POLLS: u32 = 2;
const RETIRE_FOR: Duration = Duration::from_secs(2);
/// Longest first line hashed.
const HASH_LIMIT: usize = 64 * 1024;

/// One line ready to hand on.
pub struct Emitted<'a> {
    /// Decoded (UTF-8) text, without line end.
    pub bytes: &'a [u8],
    pub truncated: bool,
    pub mark: &'a Arc<FileMark>,
    /// Offset just past the line.
    pub pos: u64,
    /// False for content that was in the file when reading started.
    pub in_operation: bool,
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Everything available was read.
    Idle,
    /// The read budget ran out: poll again without waiting.
    More,
    /// The consumer asked to stop.
    Stopped,
}

struct Open {
    file: File,
    dev: u64,
    ino: u64,
    /// Bytes read from the file (into the splitter).
    read_pos: u64,
    /// Content up to here existed when reading started (not in operation).
    backlog_end: u64,
    mark: Arc<FileMark>,
    split: LineSplitter,
}

pub struct Follower {
    path: PathBuf,
    cur: Option<Open>,
    retired: Vec<(Open, u32, Instant)>,
    enc: Encoding,
    max_line: usize,
}

/// Hex MD5 of the file's first line including its newline (fail2ban's
/// `firstlinemd5`); empty while there is no complete first line.
pub fn first_line_md5(file: &File) -> io::Result<String> {
    let mut buf = vec![0u8; 4096];
    let mut have = 0;
    loop {
        let n = file.read_at(&mut buf[have..], have as u64)?;
        if let Some(i) = memchr::memchr(b'\n', &buf[have..have + n]) {
            let end = have + i + 1;
            return Ok(format!("{:x}", Md5::digest(&buf[..end])));
        }
        have += n;
        if n == 0 {
            return Ok(String::new());
        }
        if have >= HASH_LIMIT {
            return Ok(format!("{:x}", Md5::digest(&buf[..have])));
        }
        if have == buf.len() {
            buf.resize((buf.len() * 2).min(HASH_LIMIT), 0);
        }
    }
}

impl Open {
    fn new(
        path: &Path,
        file: File,
        start_at: u64,
        backlog_end: u64,
        max_line: usize,
    ) -> io::Result<Open> {
        let meta = file.metadata()?;
        let mut file = file;
        file.seek(SeekFrom::Start(start_at))?;
        Ok(Open {
            dev: meta.dev(),
            ino: meta.ino(),
            read_pos: start_at,
            backlog_end,
            mark: Arc::new(FileMark {
                path: path.to_path_buf(),
                first_line_md5: first_line_md5(&file)?,
            }),
            file,
            split: LineSplitter::new(max_line),
        })
    }

    /// Reads up to the budget: (keep going, reached the end). Keep going is
    /// false when the consumer asked to stop.
    fn read(
        &mut self,
        enc: Encoding,
        emit: &mut dyn FnMut(Emitted<'_>) -> bool,
    ) -> io::Result<(bool, bool)> {
        let mut buf = [0u8; 64 * 1024];
        let mut budget = READ_BUDGET;
        let mut go = true;
        while go && budget > 0 {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                return Ok((true, true));
            }
            budget = budget.saturating_sub(n as u64);
            let start = self.read_pos;
            self.read_pos += n as u64;
            let mut consumed_before = start - self.split.pending() as u64;
            let mut stop_at: Option<u64> = None;
            let (split, mark, backlog_end) = (&mut self.split, &mut self.mark, self.backlog_end);
            split.feed(&buf[..n], |l| {
                if stop_at.is_some() {
                    return;
                }
                consumed_before += l.raw_len as u64;
                if mark.first_line_md5.is_empty() && consumed_before == l.raw_len as u64 {
                    // The first line just completed: now it can be hashed.
                    if let Ok(h) = first_line_md5(&self.file) {
                        *mark = Arc::new(FileMark {
                            path: mark.path.clone(),
                            first_line_md5: h,
                        });
                    }
                }
                if !deliver(enc, &l, mark, consumed_before, backlog_end, emit) {
                    stop_at = Some(consumed_before - l.raw_len as u64);
                }
            });
            if let Some(at) = stop_at {
                // Undelivered lines are read again after a restart from the
                // stored position; here the reader simply ends.
                self.read_pos = at;
                self.split.reset();
                self.file.seek(SeekFrom::Start(at))?;
                go = false;
            }
        }
        // Stopped, or the budget ran out with more to read.
        Ok((go, false))
    }

    fn flush(&mut self, enc: Encoding, emit: &mut dyn FnMut(Emitted<'_>) -> bool) -> bool {
        let mut ok = true;
        let pos = self.read_pos;
        let (mark, backlog_end) = (&self.mark, self.backlog_end);
        self.split
            .flush(|l| ok = deliver(enc, &l, mark, pos, backlog_end, emit));
        ok
    }
}

fn deliver(
    enc: Encoding,
    l: &Split<'_>,
    mark: &Arc<FileMark>,
    pos: u64,
    backlog_end: u64,
    emit: &mut dyn FnMut(Emitted<'_>) -> bool,
) -> bool {
    let text = enc.decode(l.bytes);
    emit(Emitted {
        bytes: &text,
        truncated: l.truncated,
        mark,
        pos,
        in_operation: pos > backlog_end,
    })
}

impl Follower {
    /// Follows `path`. At start (`initial`), an existing file is read from
    /// `resume` when its first-line hash matches and it is not shorter,
    /// else from `start`. A file that appears later is read from its start.
    pub fn new(
        path: PathBuf,
        initial: bool,
        start: Start,
        resume: Option<&LogPosition>,
        enc: Encoding,
        max_line: usize,
    ) -> Follower {
        let mut f = Follower {
            path,
            cur: None,
            retired: Vec::new(),
            enc,
            max_line,
        };
        if let Ok(file) = File::open(&f.path) {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let hash = first_line_md5(&file).unwrap_or_default();
            let at = match (initial, resume) {
                (true, Some(r)) if r.first_line_md5 == hash && r.pos <= size => r.pos,
                (true, _) if start == Start::Tail => size,
                _ => 0,
            };
            let backlog_end = if initial { size } else { 0 };
            match Open::new(&f.path, file, at, backlog_end, max_line) {
                Ok(o) => f.cur = Some(o),
                Err(e) => log::warn!("{}: {e}", f.path.display()),
            }
        }
        f
    }

    /// Takes over an already open file (a rotated file now matched under a
    /// new name by the glob), so it is not read twice.
    pub fn adopt(path: PathBuf, from: &mut Follower, dev: u64, ino: u64) -> Option<Follower> {
        let i = from
            .retired
            .iter()
            .position(|(o, ..)| o.dev == dev && o.ino == ino)?;
        let (mut open, ..) = from.retired.remove(i);
        open.mark = Arc::new(FileMark {
            path: path.clone(),
            first_line_md5: open.mark.first_line_md5.clone(),
        });
        Some(Follower {
            path,
            cur: Some(open),
            retired: Vec::new(),
            enc: from.enc,
            max_line: from.max_line,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// No file open and nothing left to drain.
    pub fn is_idle(&self) -> bool {
        self.cur.is_none() && self.retired.is_empty()
    }

    /// The position of the last complete line read from the current file.
    pub fn position(&self) -> Option<LogPosition> {
        self.cur.as_ref().map(|o| LogPosition {
            first_line_md5: o.mark.first_line_md5.clone(),
            pos: o.read_pos - o.split.pending() as u64,
        })
    }

    /// Reads what is new, handling rotation; see the module doc.
    pub fn poll(&mut self, emit: &mut dyn FnMut(Emitted<'_>) -> bool) -> io::Result<Polled> {
        let enc = self.enc;
        let mut more = false;
        // 1. Files rotated away: drain, and close after RETIRE_POLLS polls.
        let mut i = 0;
        while i < self.retired.len() {
            let (open, left, until) = &mut self.retired[i];
            let (go, done) = open.read(enc, emit)?;
            if !go {
                return Ok(Polled::Stopped);
            }
            more |= !done;
            *left = left.saturating_sub(1);
            if *left == 0 && done && Instant::now() >= *until {
                let (mut open, ..) = self.retired.remove(i);
                if !open.flush(enc, emit) {
                    return Ok(Polled::Stopped);
                }
            } else {
                i += 1;
            }
        }
        // 2. The current file, first checked for truncation in place: a
        // truncated file read on from the old offset would give a torn line.
        if let Some(o) = &mut self.cur {
            let size = o.file.metadata()?.len();
            let hash_now = if o.mark.first_line_md5.is_empty() {
                String::new()
            } else {
                first_line_md5(&o.file)?
            };
            if size < o.read_pos || hash_now != o.mark.first_line_md5 {
                // The partial line was the end of the old content.
                if !o.flush(enc, emit) {
                    return Ok(Polled::Stopped);
                }
                let file = o.file.try_clone()?;
                *o = Open::new(&self.path, file, 0, 0, self.max_line)?;
            }
            let (go, done) = o.read(enc, emit)?;
            if !go {
                return Ok(Polled::Stopped);
            }
            if !done {
                return Ok(Polled::More);
            }
        }
        // 3. Has the path moved on?
        match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(open) = self.cur.take() {
                    self.retired
                        .push((open, RETIRE_POLLS, Instant::now() + RETIRE_FOR));
                }
            }
            Err(e) => return Err(e),
            Ok(meta) => {
                let replaced = match &self.cur {
                    None => true,
                    Some(o) => {
                        let links = o.file.metadata()?.nlink();
                        (meta.dev(), meta.ino()) != (o.dev, o.ino) || links == 0
                    }
                };
                if replaced {
                    let Ok(file) = File::open(&self.path) else {
                        return Ok(if more { Polled::More } else { Polled::Idle });
                    };
                    let new = Open::new(&self.path, file, 0, 0, self.max_line)?;
                    if let Some(old) = self.cur.replace(new) {
                        self.retired
                            .push((old, RETIRE_POLLS, Instant::now() + RETIRE_FOR));
                    }
                }
                if let Some(o) = &mut self.cur {
                    let (go, done) = o.read(enc, emit)?;
                    if !go {
                        return Ok(Polled::Stopped);
                    }
                    more |= !done;
                }
            }
        }
        Ok(if more { Polled::More } else { Polled::Idle })
    }

    /// (dev, ino) of the files this follower holds open.
    pub fn inodes(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.cur
            .iter()
            .chain(self.retired.iter().map(|(o, ..)| o))
            .map(|o| (o.dev, o.ino))
    }
}

#[cfg(test)]
mod tests;
