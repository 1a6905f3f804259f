//! Checkpoints of a SQLite file's write-ahead log, off the writers' path.
//!
//! SQLite copies the log back into the database file (a checkpoint) inside the commit that
//! takes the log past 1,000 pages. Under a stream of orders that was the order journal's commit
//! every tenth of a second or so, and it held the journal for several milliseconds (copying
//! pages, then flushing the database file) while attempts queued behind it: most of an order's
//! p99. Writers here therefore never checkpoint (`wal_autocheckpoint = 0`); this thread does,
//! on a connection of its own, beside them.
//!
//! A checkpoint beside writers copies most of the log, but the log starts again from its
//! beginning only once it is all copied and no reader is still on it, which a steady stream of
//! commits and reads never leaves room for: the log grew by 40 MB a second. So once it is
//! long, the checkpointer takes the writer's turn and restarts it: it copies the few pages
//! added since its first pass, waits a moment for readers to finish, and starts the log afresh.
//!
//! A pass that leaves part of the log to copy does not flush the database file; only the
//! restart does, and it then flushed every page copied since the restart before, under the
//! writers' turn. That flush grew with the database: under paced real orders the restart held
//! the writers about 1 ms on a 3 MB file and 12–22 ms once it reached 25–48 MB. Flushed only
//! before the restart (outside the turn), the pages still piled up in the disk's queue, and the
//! journal's own flushes waited behind them: an order's p99 still grew with the file. So the
//! checkpointer flushes the file after every pass that copied something, a little at a time,
//! and the restart's own flush finds little left.

use std::fs::File;
use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Mutex;

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(100);

/// A log this long (pages) is finished under the writer's turn, so that it starts again; a
/// shorter one waits for a later round. Eight times SQLite's own threshold (32 MB of 4 KiB
/// pages): each restart holds the writers for its flush of the database file (under paced real
/// orders p50 0.9 ms, up to 8.5 ms), and at 1,000 pages that came eight times a second.
const RESTART_FROM_PAGES: i64 = 8_000;

/// The pragma every connection that writes to the file sets: the checkpoints are this module's.
pub(super) const NO_AUTOMATIC_CHECKPOINTS: (&str, &str) = ("wal_autocheckpoint", "0");

/// Starts the checkpointer of the file at `path`. It stops once no one holds `writer`, the
/// turn every writer of this process takes.
pub(super) fn start(path: &Path, writer: &Arc<Mutex<()>>) -> std::io::Result<()> {
    let path = path.to_owned();
    let writer = Arc::downgrade(writer);
    std::thread::Builder::new()
        .name("wal-checkpoint".into())
        .spawn(move || run(&path, &writer))?;
    Ok(())
}

fn run(path: &Path, writer: &Weak<Mutex<()>>) {
    let mut checkpointer = Checkpointer::new(path);
    loop {
        std::thread::sleep(EVERY);
        let Some(writer) = writer.upgrade() else {
            return;
        };
        if let Err(err) = checkpointer.checkpoint(&writer) {
            // The next round opens the file afresh.
            checkpointer.connection = None;
            tracing::warn!("cannot checkpoint the database's write-ahead log: {err}");
        }
    }
}

struct Checkpointer<'a> {
    path: &'a Path,
    connection: Option<Connection>,
    /// The database file, opened once to be flushed and never closed: closing any descriptor
    /// of a file drops every POSIX lock this process holds on it, the locks of its SQLite
    /// connections included.
    database_file: Option<ManuallyDrop<File>>,
    /// The log's frames copied back when the file was last flushed.
    flushed_through: i64,
}

impl<'a> Checkpointer<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            connection: None,
            database_file: None,
            flushed_through: 0,
        }
    }

    fn checkpoint(&mut self, writer: &Mutex<()>) -> rusqlite::Result<()> {
        let log = run_checkpoint(self.connection()?, "PASSIVE")?;
        // A count that went down is a log that started again: its frames are new too.
        if log.copied != self.flushed_through {
            match self.flush() {
                Ok(()) => self.flushed_through = log.copied,
                // The next pass tries again; a restart still flushes under the turn.
                Err(err) => tracing::warn!("cannot flush the database file: {err}"),
            }
        }
        if log.pages >= RESTART_FROM_PAGES {
            let _turn = writer.blocking_lock();
            run_checkpoint(self.connection()?, "RESTART")?;
        }
        Ok(())
    }

    fn connection(&mut self) -> rusqlite::Result<&Connection> {
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => open(self.path)?,
        };
        Ok(self.connection.insert(connection))
    }

    /// Flushes what the passes copied into the database file, outside the writers' turn.
    fn flush(&mut self) -> std::io::Result<()> {
        let file = match &mut self.database_file {
            Some(file) => file,
            None => self
                .database_file
                .insert(ManuallyDrop::new(File::open(self.path)?)),
        };
        file.sync_data()
    }
}

/// The log's length and how much of it is in the database file, in pages (frames).
struct LogProgress {
    pages: i64,
    copied: i64,
}

/// Runs a checkpoint: `PASSIVE` copies what no reader still needs and waits for no one;
/// `RESTART` copies it all, waits (briefly) for readers still on the log, and starts the log
/// again.
fn run_checkpoint(connection: &Connection, mode: &str) -> rusqlite::Result<LogProgress> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(LogProgress {
            pages: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    // Never creates the file: one removed under a store that is closing stays removed.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    // Readers still on the log are waited for this long before a restart is left for later.
    connection.busy_timeout(Duration::from_millis(5))?;
    // A checkpoint flushes the database file before the log may start again.
    connection.pragma_update(None, "synchronous", "full")?;
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{remove_test_sqlite_file, test_sqlite_path};

    /// A new database file of one table, `pages`, and a connection that writes to it as the
    /// store's writers do.
    fn writer_leaving_checkpoints(purpose: &str) -> (std::path::PathBuf, Connection) {
        let path = test_sqlite_path(purpose);
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "wal").unwrap();
        let (name, value) = NO_AUTOMATIC_CHECKPOINTS;
        writer.pragma_update(None, name, value).unwrap();
        writer
            .execute("CREATE TABLE pages (filler BLOB)", [])
            .unwrap();
        (path, writer)
    }

    fn log_pages(connection: &Connection) -> i64 {
        run_checkpoint(connection, "PASSIVE").unwrap().pages
    }

    #[test]
    fn writers_leave_the_log_to_the_checkpointer_which_starts_it_again() {
        let (path, writer) = writer_leaving_checkpoints("checkpointer-restart");
        // One page a row, past the length that restarts the log, in one transaction.
        let rows = RESTART_FROM_PAGES + 200;
        writer.execute_batch("BEGIN").unwrap();
        for _ in 0..rows {
            writer
                .execute("INSERT INTO pages VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        let observer = Connection::open(&path).unwrap();
        let before = log_pages(&observer);
        assert!(before > rows, "the writers checkpointed: {before} pages");
        Checkpointer::new(&path)
            .checkpoint(&Mutex::new(()))
            .unwrap();
        writer
            .execute("INSERT INTO pages VALUES (zeroblob(10))", [])
            .unwrap();
        let after = log_pages(&observer);
        assert!(after < 10, "the log did not start again: {after} pages");
        let rows: i64 = observer
            .query_row("SELECT COUNT(*) FROM pages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, RESTART_FROM_PAGES + 201);
        drop((writer, observer));
        remove_test_sqlite_file(&path);
        // A store closing after its file was removed does not bring it back.
        assert!(
            Checkpointer::new(&path)
                .checkpoint(&Mutex::new(()))
                .is_err()
        );
        assert!(!path.exists());
    }

    /// Its SQLite connections' locks on the file outlive the descriptor the flush opened.
    #[test]
    fn the_descriptor_the_flush_opens_is_never_closed() {
        let path = test_sqlite_path("checkpointer-flush");
        std::fs::write(&path, b"pages").unwrap();
        let open_on_file = || {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|fd| std::fs::read_link(fd.unwrap().path()).ok())
                .filter(|target| *target == path)
                .count()
        };
        {
            let mut checkpointer = Checkpointer::new(&path);
            checkpointer.flush().unwrap();
            checkpointer.flush().unwrap();
        }
        assert_eq!(open_on_file(), 1);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_pass_that_copied_pages_flushes_the_file_and_one_that_copied_none_does_not() {
        let (path, writer) = writer_leaving_checkpoints("checkpointer-pass-flush");
        let mut checkpointer = Checkpointer::new(&path);
        let turn = Mutex::new(());
        checkpointer.checkpoint(&turn).unwrap();
        assert!(
            checkpointer.database_file.is_some(),
            "no flush after a copy"
        );
        let flushed = checkpointer.flushed_through;
        assert!(flushed > 0);

        // Nothing new in the log: the file is not flushed again (the descriptor let go here
        // stays open, as ever).
        checkpointer.database_file = None;
        checkpointer.checkpoint(&turn).unwrap();
        assert!(
            checkpointer.database_file.is_none(),
            "flushed with nothing copied"
        );

        for _ in 0..20 {
            writer
                .execute("INSERT INTO pages VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        checkpointer.checkpoint(&turn).unwrap();
        assert!(
            checkpointer.database_file.is_some(),
            "no flush after a copy"
        );
        assert_ne!(checkpointer.flushed_through, flushed);
        drop((writer, checkpointer));
        remove_test_sqlite_file(&path);
    }
}
