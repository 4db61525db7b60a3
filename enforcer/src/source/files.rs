//! Owns a jail's file source: its `logpath` globs, re-evaluated every poll
//! so files that appear later are picked up, one [`Follower`] per matching
//! path, all read by one thread that sends into the jail's channel.
//!
//! Files present at start are read per their `head`/`tail` suffix, or from
//! the stored position when its first-line hash still matches; a file that
//! appears later is new content and is read from its start. A path that a
//! glob matches only because a followed file was renamed to it (`auth.log*`
//! after `auth.log` → `auth.log.1`) keeps being read where it was, not again.
//! A copy (copytruncate's `auth.log.1`) is another file: a glob that also
//! matches the copies reads each copy as new, so such globs should not match
//! rotated names (fail2ban behaves the same).
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::follow::{Follower, Polled};
use super::watch::Watcher;
use super::{
    Encoding, FileBackend, Line, LineSender, Origin, Sink, SourceError, SourceHandle, SourceId,
    Start, Stop,
};
use crate::store::LogPosition;

/// What a file source reads and how.
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    pub id: SourceId,
    /// For log messages (the jail's name).
    pub name: String,
    /// `logpath` entries as written: globs with an optional ` head`/` tail`.
    pub logpaths: Vec<String>,
    pub backend: FileBackend,
    pub encoding: Encoding,
    /// Stored positions by path (from [`crate::store::Store::log_position`]).
    pub positions: HashMap<PathBuf, LogPosition>,
    /// How often files are checked without (or besides) inotify events.
    pub poll_interval: Duration,
    /// Longest line kept; see [`super::lines`].
    pub max_line: usize,
}

impl FileSourceConfig {
    pub fn new(id: SourceId, name: &str, logpaths: Vec<String>) -> Self {
        FileSourceConfig {
            id,
            name: name.to_string(),
            logpaths,
            backend: FileBackend::Auto,
            encoding: Encoding::Utf8,
            positions: HashMap::new(),
            poll_interval: Duration::from_secs(1),
            max_line: super::DEFAULT_MAX_LINE,
        }
    }
}

struct Pattern {
    text: String,
    glob: Option<glob::Pattern>,
    start: Start,
}

/// Expands `logpath` entries to the files they match now (sorted, no
/// duplicates); a literal path is listed only when it exists.
pub fn expand(logpaths: &[String]) -> Result<Vec<PathBuf>, SourceError> {
    let pats = patterns(logpaths)?;
    let mut out: Vec<PathBuf> = pats.iter().flat_map(matches).map(|(p, _)| p).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

fn patterns(logpaths: &[String]) -> Result<Vec<Pattern>, SourceError> {
    logpaths
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (text, start) = super::parse_logpath(l);
            let glob = if text.contains(['*', '?', '[']) {
                Some(
                    glob::Pattern::new(&text)
                        .map_err(|e| SourceError::Glob(text.clone(), e.to_string()))?,
                )
            } else {
                None
            };
            Ok(Pattern { text, glob, start })
        })
        .collect()
}

fn matches(p: &Pattern) -> Vec<(PathBuf, Start)> {
    match &p.glob {
        None => {
            let path = PathBuf::from(&p.text);
            if path.is_file() {
                vec![(path, p.start)]
            } else {
                Vec::new()
            }
        }
        Some(_) => glob::glob(&p.text)
            .map(|g| {
                g.filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .map(|f| (f, p.start))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The directory to watch for a pattern: a literal path's parent, or a
/// glob's longest literal directory prefix.
fn watch_dir(p: &Pattern) -> PathBuf {
    let lit: PathBuf = Path::new(&p.text)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
        .collect();
    if p.glob.is_none() {
        lit.parent().map(Path::to_path_buf).unwrap_or(lit)
    } else {
        lit
    }
}

/// A running file source.
pub struct FileSource;

impl FileSource {
    /// Starts the reader thread; lines go to `tx`.
    pub fn spawn(cfg: FileSourceConfig, tx: LineSender) -> Result<SourceHandle, SourceError> {
        let pats = patterns(&cfg.logpaths)?;
        let (watcher, waker) = Watcher::new(cfg.backend, cfg.poll_interval)?;
        let stop = Arc::new(Stop::default());
        let stop2 = stop.clone();
        let t = std::thread::Builder::new()
            .name(format!("src-{}", cfg.name))
            .spawn(move || Reader::new(cfg, pats, watcher, tx, stop2).run())
            .map_err(SourceError::Thread)?;
        Ok(SourceHandle::new(stop, Some(waker), t))
    }
}

struct Reader {
    cfg: FileSourceConfig,
    pats: Vec<Pattern>,
    watcher: Watcher,
    sink: Sink,
    followers: BTreeMap<PathBuf, Follower>,
    literal: Vec<PathBuf>,
}

impl Reader {
    fn new(
        cfg: FileSourceConfig,
        pats: Vec<Pattern>,
        watcher: Watcher,
        tx: LineSender,
        stop: Arc<Stop>,
    ) -> Self {
        let literal = pats
            .iter()
            .filter(|p| p.glob.is_none())
            .map(|p| PathBuf::from(&p.text))
            .collect();
        Reader {
            cfg,
            pats,
            watcher,
            sink: Sink::new(tx, stop),
            followers: BTreeMap::new(),
            literal,
        }
    }

    fn run(mut self) {
        let mut initial = true;
        // Literal paths are followed even before they exist.
        for p in self.pats.iter().filter(|p| p.glob.is_none()) {
            let path = PathBuf::from(&p.text);
            let f = Follower::new(
                path.clone(),
                true,
                p.start,
                self.cfg.positions.get(&path),
                self.cfg.encoding,
                self.cfg.max_line,
            );
            self.followers.insert(path, f);
        }
        while !self.sink.stopped() {
            self.rescan(initial);
            initial = false;
            let mut more = false;
            let (id, sink) = (self.cfg.id, &mut self.sink);
            let mut emit = |e: super::follow::Emitted<'_>| {
                if sink.stopped() {
                    return false;
                }
                let line = Line {
                    source: id,
                    bytes: e.bytes.to_vec(),
                    truncated: e.truncated,
                    in_operation: e.in_operation,
                    time: None,
                    origin: Origin::File {
                        file: e.mark.clone(),
                        pos: e.pos,
                    },
                };
                sink.send(line)
            };
            for f in self.followers.values_mut() {
                match f.poll(&mut emit) {
                    Ok(Polled::Idle) => {}
                    Ok(Polled::More) => more = true,
                    Ok(Polled::Stopped) => return,
                    Err(e) => log::warn!("[{}] {}: {e}", self.cfg.name, f.path().display()),
                }
            }
            if self.sink.is_closed() {
                return;
            }
            // Forget glob-matched paths whose files are gone for good.
            let literal = &self.literal;
            self.followers
                .retain(|p, f| !f.is_idle() || literal.contains(p));
            if !more {
                self.watcher.wait();
            }
        }
    }

    fn rescan(&mut self, initial: bool) {
        for p in &self.pats {
            self.watcher.watch_dir(&watch_dir(p));
        }
        let found: Vec<(PathBuf, Start)> = self.pats.iter().flat_map(matches).collect();
        for (path, start) in found {
            if self.followers.contains_key(&path) {
                continue;
            }
            let meta = std::fs::metadata(&path).ok();
            let adopted = meta.and_then(|m| {
                self.followers
                    .values_mut()
                    .find_map(|f| Follower::adopt(path.clone(), f, m.dev(), m.ino()))
            });
            let f = adopted.unwrap_or_else(|| {
                let resume = self.cfg.positions.get(&path);
                Follower::new(
                    path.clone(),
                    initial,
                    start,
                    resume,
                    self.cfg.encoding,
                    self.cfg.max_line,
                )
            });
            if let Some(dir) = path.parent() {
                self.watcher.watch_dir(dir);
            }
            self.followers.insert(path, f);
        }
        for dir in self
            .followers
            .keys()
            .filter_map(|p| p.parent())
            .map(Path::to_path_buf)
            .collect::<Vec<_>>()
        {
            self.watcher.watch_dir(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Instant;

    use super::*;
    use crate::source::channel;

    fn recv_n(rx: &mut crate::source::LineReceiver, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut out = Vec::new();
        while out.len() < n && Instant::now() < deadline {
            match rx.try_recv() {
                Ok(l) => out.push(l.text().into_owned()),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        out
    }

    fn cfg(id: u32, logpaths: Vec<String>, backend: FileBackend) -> FileSourceConfig {
        let mut c = FileSourceConfig::new(SourceId(id), "test", logpaths);
        c.backend = backend;
        c.poll_interval = Duration::from_millis(50);
        c
    }

    #[test]
    fn globs_are_reevaluated_and_new_files_read_from_their_start() {
        for backend in [FileBackend::Polling, FileBackend::Auto] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("a.log"), "old a\n").unwrap();
            let glob = format!("{}/*.log tail", dir.path().display());
            let (tx, mut rx) = channel(16);
            let h = FileSource::spawn(cfg(1, vec![glob], backend), tx).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            std::fs::write(dir.path().join("b.log"), "new b\n").unwrap();
            let got = recv_n(&mut rx, 1);
            assert_eq!(got, ["new b"], "{backend:?}");
            h.stop();
            assert!(
                rx.try_recv().is_err(),
                "tail: the old line of a.log is not read"
            );
        }
    }

    #[test]
    fn a_slow_consumer_blocks_only_its_own_reader_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (pa, pb) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let n = 2000;
        let body: String = (0..n).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&pa, &body).unwrap();
        std::fs::write(&pb, &body).unwrap();
        let (ta, mut ra) = channel(4);
        let (tb, mut rb) = channel(4);
        let p = |p: &Path| vec![p.display().to_string()];
        let _a = FileSource::spawn(cfg(1, p(&pa), FileBackend::Auto), ta).unwrap();
        let _b = FileSource::spawn(cfg(2, p(&pb), FileBackend::Auto), tb).unwrap();
        // Nobody reads `a`; `b` is still delivered in full.
        assert_eq!(recv_n(&mut rb, n).len(), n);
        let got = recv_n(&mut ra, n);
        assert_eq!(got.len(), n);
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, l)| *l == format!("line {i}"))
        );
        // A line appended now still arrives (inotify or polling).
        std::fs::OpenOptions::new()
            .append(true)
            .open(&pa)
            .unwrap()
            .write_all(b"more\n")
            .unwrap();
        assert_eq!(recv_n(&mut ra, 1), ["more"]);
    }

    #[test]
    fn dropping_the_receiver_ends_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let pa = dir.path().join("a.log");
        std::fs::write(&pa, "x\ny\nz\n").unwrap();
        let (tx, rx) = channel(1);
        let h = FileSource::spawn(
            cfg(1, vec![pa.display().to_string()], FileBackend::Polling),
            tx,
        )
        .unwrap();
        drop(rx);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(h.is_finished());
    }

    #[test]
    fn stop_interrupts_a_reader_waiting_on_a_full_channel() {
        let dir = tempfile::tempdir().unwrap();
        let pa = dir.path().join("a.log");
        std::fs::write(&pa, "x\ny\nz\n").unwrap();
        let (tx, mut rx) = channel(1);
        let h = FileSource::spawn(
            cfg(1, vec![pa.display().to_string()], FileBackend::Polling),
            tx,
        )
        .unwrap();
        assert_eq!(recv_n(&mut rx, 1), ["x"]);
        std::thread::sleep(Duration::from_millis(100)); // "y" fills the channel, "z" waits
        let start = Instant::now();
        h.stop(); // the receiver is alive and nobody reads
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(rx.try_recv().unwrap().text(), "y");
    }

    #[test]
    fn restart_resumes_from_the_position_stored_for_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let pa = dir.path().join("a.log");
        std::fs::write(&pa, "one\ntwo\n").unwrap();
        let store = crate::store::Store::open_in_memory().unwrap();
        let c = cfg(1, vec![pa.display().to_string()], FileBackend::Auto);
        let (tx, mut rx) = channel(8);
        let h = FileSource::spawn(c.clone(), tx).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = None;
        while last.as_ref().is_none_or(|l: &Line| l.text() != "two") && Instant::now() < deadline {
            match rx.try_recv() {
                Ok(l) => last = Some(l),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let last = last.unwrap();
        let (path, at) = last.log_position().unwrap();
        store
            .set_log_position("test", &path.to_string_lossy(), &at)
            .unwrap();
        h.stop();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&pa)
            .unwrap()
            .write_all(b"three\n")
            .unwrap();
        let mut c2 = c;
        c2.positions = store.log_positions("test").unwrap();
        let (tx, mut rx) = channel(8);
        let _h = FileSource::spawn(c2, tx).unwrap();
        assert_eq!(recv_n(&mut rx, 1), ["three"]);
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            rx.try_recv().is_err(),
            "nothing before the stored position again"
        );
    }

    #[test]
    fn expand_and_bad_globs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.log"), "").unwrap();
        std::fs::write(dir.path().join("y.log"), "").unwrap();
        let d = dir.path().display();
        let got = expand(&[
            format!("{d}/*.log"),
            format!("{d}/x.log head"),
            format!("{d}/missing"),
        ])
        .unwrap();
        assert_eq!(got, [dir.path().join("x.log"), dir.path().join("y.log")]);
        assert!(matches!(
            expand(&["/x/[".into()]),
            Err(SourceError::Glob(..))
        ));
    }
}
