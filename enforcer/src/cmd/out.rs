//! Owns how the commands print their results: through
//! [`outln!`](crate::outln), [`text`] for a whole report (`config dump`),
//! or a [`buffered`] writer for long lists (a million `banned` lines are
//! not a million writes). A reader that went
//! away (`enforcer banned | head`) ends the command quietly and
//! successfully, as it ends `cat`, where `println!` would panic; any other
//! failure to write is reported and exits 2.
use std::io::{self, BufWriter, StdoutLock, Write};

/// `println!` for a command's result (see the module doc).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cmd::out::line(format_args!($($t)*))
    };
}

/// One line to standard output.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut o = io::stdout().lock();
    checked(writeln!(o, "{args}").and_then(|()| o.flush()));
}

/// `text` as it is (its own newlines) to standard output.
pub fn text(text: &str) {
    let mut o = io::stdout().lock();
    checked(o.write_all(text.as_bytes()).and_then(|()| o.flush()));
}

/// Standard output, locked and buffered: [`put`] lines into it, then
/// [`finish`] it.
pub fn buffered() -> BufWriter<StdoutLock<'static>> {
    BufWriter::with_capacity(64 << 10, io::stdout().lock())
}

/// One line into `out`.
pub fn put(out: &mut impl Write, args: std::fmt::Arguments<'_>) {
    checked(writeln!(out, "{args}"));
}

/// Flushes what [`buffered`] holds.
pub fn finish(mut out: impl Write) {
    checked(out.flush());
}

/// Whether `e` is a write to a reader that went away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn checked(r: io::Result<()>) {
    match r {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("enforcer: writing to stdout: {e}");
            std::process::exit(2);
        }
    }
}
