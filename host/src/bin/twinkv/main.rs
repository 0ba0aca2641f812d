//! `twinkv`: look into, check, edit and repair twinkv stores.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
#[cfg(feature = "_test-hooks")]
mod crash;
mod demo;
mod entries;
mod images;
mod json;
mod parse;
mod report;

/// Exit codes (also in `--help`).
pub(crate) mod exit {
    /// Success (verify: clean or recoverable).
    pub const OK: u8 = 0;
    /// The key is absent (`get`, `rm`).
    pub const ABSENT: u8 = 1;
    /// Usage error.
    pub const USAGE: u8 = 2;
    /// Corruption found.
    pub const CORRUPT: u8 = 3;
    /// Any other error.
    pub const ERROR: u8 = 4;
}

const AFTER_HELP: &str = "\
A store is a base path and two files: STORE.a and STORE.b. A raw device
image (region A then region B) is read with `inspect` and `export` given
--write-size and --erase-size, and made with `image create`.

--json (stats, verify, list, inspect) prints one JSON object whose `schema`
field names its shape (twinkv.<command>.v1); the exit codes stay the same.

Commands that write (set, rm, import, compact, resize, repair) sync before
they exit, so what they did survives power loss; --no-sync skips that (the
writes still survive a crash of the process), for scripts that batch.

A store that cannot be opened is read with `export --salvage` (or `dump
--salvage`; an image with `export --salvage` and its sizes): the best state
left, which `import` puts into a new store; the damaged files are not
written.

Exit codes:
  0  success (verify: clean, or recoverable leftovers of a crash, named on stdout)
  1  key absent (get, rm)
  2  usage error (bad arguments, options or input; nothing was created or written)
  3  corruption found (also: the newest region is damaged and the store cannot be opened;
     --salvage: what was printed may be older than the last acknowledged write)
  4  any other error (one line on stderr with the cause)";

/// Look into, check, edit and repair twinkv stores (crash-resilient A/B
/// key-value journals in a pair of files).
#[derive(Parser, Debug)]
#[command(name = "twinkv", version, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    /// Do not sync before exiting after a write: faster, and the writes still
    /// survive a crash of the process, but not power loss until a later sync.
    #[arg(long, global = true)]
    pub(crate) no_sync: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options used when a command creates a store.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct CreateOpts {
    /// Region size of a new store, per file (bytes; K, M, G suffixes; a
    /// multiple of 512). Default 1M.
    #[arg(long, value_parser = parse::parse_region_size)]
    pub(crate) size: Option<u32>,
    /// High-water mark of a new store in percent (compaction starts above it).
    /// Default 80.
    #[arg(long, value_parser = parse::parse_percent)]
    pub(crate) high_water: Option<u16>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Set KEY to VALUE (creates the store if absent). VALUE `-` reads stdin.
    Set {
        /// The store's base path.
        store: PathBuf,
        /// The key (not empty).
        #[arg(value_parser = parse::parse_key)]
        key: String,
        /// The value, or `-` for standard input.
        value: String,
        #[command(flatten)]
        create: CreateOpts,
        /// Sync after writing (the default now; kept for scripts that pass it).
        #[arg(long, hide = true)]
        sync: bool,
    },
    /// Print KEY's value (exit 1 if absent).
    Get {
        /// The store's base path.
        store: PathBuf,
        /// The key (not empty).
        #[arg(value_parser = parse::parse_key)]
        key: String,
        /// Do not print a newline after the value.
        #[arg(short = 'n', long)]
        no_newline: bool,
    },
    /// Delete KEY (exit 1 if it had no value).
    Rm {
        /// The store's base path.
        store: PathBuf,
        /// The key (not empty).
        #[arg(value_parser = parse::parse_key)]
        key: String,
    },
    /// List the keys, sorted.
    List {
        /// The store's base path.
        store: PathBuf,
        /// Read a copy without locking (beside a live writer).
        #[arg(long)]
        snapshot: bool,
        /// JSON (schema twinkv.list.v1): keys as {"key"} when UTF-8, else {"key_hex"}.
        #[arg(long)]
        json: bool,
    },
    /// Print every key and value, sorted by key.
    Dump {
        /// The store's base path.
        store: PathBuf,
        /// JSON: entries {"key","value"} for UTF-8, {"key_hex","value_hex"} otherwise.
        #[arg(long)]
        json: bool,
        /// Read a copy without locking (beside a live writer).
        #[arg(long)]
        snapshot: bool,
        /// Read what can still be read of a store that does not open (its
        /// newest state damaged, or a file of a length no region has): the
        /// best state left, which may be older than the last acknowledged
        /// write (exit 3 when it is). Writes nothing, takes no lock.
        #[arg(long, conflicts_with = "snapshot")]
        salvage: bool,
    },
    /// Set every entry of a JSON file (as `dump --json` writes) in one atomic batch.
    Import {
        /// The store's base path.
        store: PathBuf,
        /// The JSON file, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        create: CreateOpts,
    },
    /// Print the live entries as JSON (the same as `dump --json`; `import` and
    /// `image create` read it), of a store or, with --write-size and
    /// --erase-size, of a device image.
    Export {
        /// The store's base path, or a device image file (with --write-size
        /// and --erase-size).
        store: PathBuf,
        /// Read a copy without locking (beside a live writer).
        #[arg(long, conflicts_with = "write_size")]
        snapshot: bool,
        /// Read what can still be read of a store that does not open (its
        /// newest state damaged, or a file of a length no region has): the
        /// best state left, which may be older than the last acknowledged
        /// write (exit 3 when it is; save it, then `import` it into a new
        /// store). Writes nothing, takes no lock. With --write-size and
        /// --erase-size: of a device image.
        #[arg(long, conflicts_with = "snapshot")]
        salvage: bool,
        /// STORE is a device image: the device's write unit in bytes.
        #[arg(long, value_parser = parse::parse_size, requires = "erase_size")]
        write_size: Option<u32>,
        /// STORE is a device image: the device's erase unit in bytes.
        #[arg(long, value_parser = parse::parse_size, requires = "write_size")]
        erase_size: Option<u32>,
        /// Size of one region of the image (default: half of what follows --offset).
        #[arg(long, value_parser = parse::parse_size, requires = "write_size")]
        region_size: Option<u32>,
        /// Where region A starts in the image file (a full-chip dump), e.g. 0x9000.
        #[arg(long, value_parser = parse::parse_size, requires = "write_size")]
        offset: Option<u32>,
    },
    /// Show the active region, generation, space, switches and keys.
    Stats {
        /// The store's base path.
        store: PathBuf,
        /// Read a copy without locking (beside a live writer).
        #[arg(long)]
        snapshot: bool,
        /// JSON (schema twinkv.stats.v1).
        #[arg(long)]
        json: bool,
    },
    /// Check both regions, every record: clean, recoverable or corrupt (exit 3).
    Verify {
        /// The store's base path.
        store: PathBuf,
        /// Read a copy without locking (beside a live writer).
        #[arg(long)]
        snapshot: bool,
        /// Also list every record.
        #[arg(short, long)]
        verbose: bool,
        /// JSON (schema twinkv.verify.v1; records listed with --verbose).
        #[arg(long)]
        json: bool,
    },
    /// Compact the live data into the other region now (a switch).
    Compact {
        /// The store's base path.
        store: PathBuf,
    },
    /// Drop damaged records into a fresh committed region (lists them first).
    Repair {
        /// The store's base path.
        store: PathBuf,
        /// Really do it.
        #[arg(long)]
        yes: bool,
    },
    /// Change the size of both region files.
    Resize {
        /// The store's base path.
        store: PathBuf,
        /// New size per file (bytes; K, M, G suffixes; a multiple of 512).
        #[arg(value_parser = parse::parse_region_size)]
        size: u32,
    },
    /// Run the example on real files: 1 KiB regions, 40 % high-water mark,
    /// switching A→B→A→B→A→B, then reopen and check every value.
    Demo {
        /// Directory for the files (default: a fresh temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Decode a raw flash dump (region A then region B, back to back): the
    /// verdict, both headers, every record and every live key and value
    /// (exit 3 on corruption).
    Inspect {
        /// The image file.
        image: PathBuf,
        /// The device's write unit in bytes (1, 2, 4, 8, 16 or 32).
        #[arg(long, value_parser = parse::parse_size)]
        write_size: u32,
        /// The device's erase unit in bytes.
        #[arg(long, value_parser = parse::parse_size)]
        erase_size: u32,
        /// Size of one region (default: half of what follows --offset).
        #[arg(long, value_parser = parse::parse_size)]
        region_size: Option<u32>,
        /// Where region A starts in the file (a full-chip dump), e.g. 0x9000.
        #[arg(long, value_parser = parse::parse_size, default_value = "0")]
        offset: u32,
        /// JSON (schema twinkv.inspect.v1).
        #[arg(long)]
        json: bool,
    },
    /// Device images: `image create` builds one to flash.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Test helper: write numbered keys, acknowledging each on stdout.
    #[cfg(feature = "_test-hooks")]
    #[command(name = "__crash-writer", hide = true)]
    CrashWriter {
        store: PathBuf,
        #[arg(long)]
        start: u64,
        #[arg(long, default_value_t = u64::MAX)]
        count: u64,
        #[arg(long, value_parser = parse::parse_size, default_value = "2048")]
        size: u32,
        #[arg(long)]
        sync_every_write: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ImageCommand {
    /// Build a device image (region A then region B, erased bytes 0xFF) that
    /// holds the entries of a JSON file (as `export` writes and `import`
    /// reads), written by twinkv-core itself: flash it at the partition's
    /// start and open it with the same store id, limits and ratios.
    Create {
        /// The device's write unit in bytes (1, 2, 4, 8, 16 or 32).
        #[arg(long, value_parser = parse::parse_size)]
        write_size: u32,
        /// The device's erase unit in bytes.
        #[arg(long, value_parser = parse::parse_size)]
        erase_size: u32,
        /// Size of one region (a multiple of the erase unit); the image is twice that.
        #[arg(long, value_parser = parse::parse_size)]
        region_size: u32,
        /// The store id firmware opens with (`Config::new(ID)`), decimal or
        /// 0x-hex. Default: derived from the contents (printed).
        #[arg(long, value_parser = parse::parse_store_id)]
        store_id: Option<u64>,
        /// Max key and value length, KEY,VALUE (`Config::with_limits`). Default 63,1024.
        #[arg(long, value_parser = parse::parse_limits)]
        limits: Option<(u16, u32)>,
        /// High-water and max-fill ratios in basis points, HW,MF
        /// (`Config::with_ratios`). Default 8000,9000.
        #[arg(long, value_parser = parse::parse_ratios)]
        ratios: Option<(u16, u16)>,
        /// The entries: a JSON file as `export` writes, or `-` for standard input.
        #[arg(long)]
        from: PathBuf,
        /// The image file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// A command's failure: the exit code and one line for stderr (or, for a
/// usage error found after parsing, clap's own rendering).
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    pub(crate) usage: Option<clap::Error>,
}

impl From<twinkv_host::Error> for Failure {
    fn from(e: twinkv_host::Error) -> Self {
        use twinkv_host::core::Error as Core;
        use twinkv_host::Error as E;
        if let E::InvalidOptions(msg) = &e {
            return Failure::usage(clap::error::ErrorKind::ValueValidation, msg);
        }
        let code = if e.is_corruption() {
            exit::CORRUPT
        } else {
            exit::ERROR
        };
        // The library names the problem; the CLI adds what to do about it.
        let remedy = match &e {
            E::Open { cause, .. } => match cause {
                Core::Corrupted => {
                    ": run `twinkv verify` to see what is damaged \
                     (`repair` cannot rewrite a damaged newest region; \
                     `twinkv export --salvage` saves what can still be read)"
                }
                Core::ReadOnly => {
                    ": run `twinkv verify` to see what the files hold; \
                     remove both files to start afresh"
                }
                Core::Unrecognised => {
                    ": run `twinkv verify` to see what the files hold \
                     (`twinkv export --salvage` reads what a damaged header \
                     leaves; `twinkv inspect` reads raw device images)"
                }
                Core::ForeignStore => ": STORE.a and STORE.b must come from the same store",
                Core::UnsupportedFormat => ": read it with a newer twinkv",
                Core::ConfigMismatch => ": leave the options out to use the recorded ones",
                _ => "",
            },
            E::NotFound(_) => " (`twinkv set` creates one)",
            E::Locked(_) => {
                " (try again when it is done; list, dump, export, stats and verify \
                 read a copy beside it with --snapshot)"
            }
            E::NotARegion { .. } => {
                " (`twinkv export --salvage` reads the store's other file \
                 without this one)"
            }
            E::NewerRegionMissing { .. } => {
                ": put the missing file back (`twinkv verify` shows what the other holds)"
            }
            // OptionsConflict and Full name their remedy themselves.
            _ => "",
        };
        Failure {
            code,
            message: format!("{e}{remedy}"),
            usage: None,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::new(exit::ERROR, e.to_string())
    }
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            usage: None,
        }
    }
    /// A usage error found after parsing, rendered like clap's own (exit 2).
    pub(crate) fn usage(kind: clap::error::ErrorKind, message: impl std::fmt::Display) -> Self {
        use clap::CommandFactory;
        let e = Cli::command().error(kind, message);
        Failure {
            code: exit::USAGE,
            message: e.to_string(),
            usage: Some(e),
        }
    }
    fn broken_pipe(&self) -> bool {
        self.message == BROKEN_PIPE
    }
}

const BROKEN_PIPE: &str = "\u{0}broken pipe";

/// Output errors: a closed stdout ends the command quietly.
pub(crate) fn out_err(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::new(exit::OK, BROKEN_PIPE)
    } else {
        Failure::new(exit::ERROR, format!("writing output: {e}"))
    }
}

fn main() -> ExitCode {
    // No panic message or backtrace on any input: a panic is a bug, reported
    // as one line.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(io::stderr(), "twinkv: internal error: {info}");
        std::process::exit(i32::from(exit::ERROR));
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            if let Err(w) = e.print() {
                if w.kind() != io::ErrorKind::BrokenPipe {
                    return ExitCode::from(exit::ERROR);
                }
            }
            return ExitCode::from(code);
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    #[cfg(feature = "_test-hooks")]
    if let Some(n) = std::env::var("TWINKV_TEST_ENOSPC_AT_FILL")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        twinkv_host::hooks::enospc_at_fill(n);
    }
    let r = cmd::run(cli.command, cli.no_sync, &mut out).and_then(|code| {
        out.flush().map_err(out_err)?;
        Ok(code)
    });
    match r {
        Ok(code) => ExitCode::from(code),
        Err(f) if f.broken_pipe() => ExitCode::from(exit::OK),
        Err(f) => {
            let _ = out.flush();
            match &f.usage {
                Some(e) => {
                    let _ = e.print();
                }
                None => {
                    let _ = writeln!(io::stderr(), "twinkv: {}", f.message);
                }
            }
            ExitCode::from(f.code)
        }
    }
}
