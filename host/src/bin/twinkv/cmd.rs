//! The subcommands.

use std::io::{Read, Write};
use std::path::Path;

use twinkv_host::image::ImageGeometry;
use twinkv_host::inspect::{self, show_key, Verdict};
use twinkv_host::{Options, Store};

use crate::entries::{plain_key, read_entries, show_value, sorted, write_json};
use crate::images::{image_bytes, image_create, image_damage_check, not_an_image, read_image};
use crate::{exit, out_err, Command, CreateOpts, Failure, ImageCommand};

pub(crate) type Out<'a> = &'a mut dyn Write;
pub(crate) type Res = Result<u8, Failure>;

/// Runs one command. Commands that write sync before returning unless
/// `no_sync` (then their writes survive a crash of the process, not power
/// loss).
pub(crate) fn run(command: Command, no_sync: bool, out: Out<'_>) -> Res {
    let w = Writer { no_sync };
    if let Some(store) = command.store() {
        not_an_image(store)?;
    }
    match command {
        Command::Set {
            store,
            key,
            value,
            create,
            sync: _,
        } => {
            let value = if value == "-" {
                let mut v = Vec::new();
                std::io::stdin().read_to_end(&mut v)?;
                v
            } else {
                value.into_bytes()
            };
            let opts = create_options(&create)?;
            w.creating(&store, opts, |s| Ok(s.set(&key, &value)?))?;
            Ok(exit::OK)
        }
        Command::Get {
            store,
            key,
            no_newline,
        } => {
            let s = Store::open_read_only(&store)?;
            match s.get(&key)? {
                Some(v) => {
                    out.write_all(v).map_err(out_err)?;
                    if !no_newline {
                        out.write_all(b"\n").map_err(out_err)?;
                    }
                    Ok(exit::OK)
                }
                None => Err(Failure::new(exit::ABSENT, format!("{key:?}: no such key"))),
            }
        }
        Command::Rm { store, key } => {
            let mut s = w.open(&store)?;
            let had = s.remove(&key)?;
            w.finish(s)?;
            if had {
                Ok(exit::OK)
            } else {
                Err(Failure::new(exit::ABSENT, format!("{key:?}: no such key")))
            }
        }
        Command::List {
            store,
            snapshot,
            json,
        } => {
            let s = open_reader(&store, snapshot)?;
            let entries = sorted(&s)?;
            if json {
                let keys: Vec<Vec<u8>> = entries.into_iter().map(|(k, _)| k).collect();
                crate::json::write(out, &crate::json::list(&keys, s.stats()?.damaged_keys))?;
            } else {
                for (k, _) in entries {
                    writeln!(out, "{}", plain_key(&k)).map_err(out_err)?;
                }
            }
            damaged_check(out, &s)
        }
        Command::Dump {
            store,
            json,
            snapshot,
            salvage,
        } => {
            let s = open_reader_or_salvage(&store, snapshot, salvage)?;
            let entries = sorted(&s)?;
            if json {
                write_json(out, &entries)?;
            } else {
                for (k, v) in &entries {
                    writeln!(out, "{} = {}", show_key(k), show_value(v)).map_err(out_err)?;
                }
            }
            salvaged_check(out, &store, &s)?;
            damaged_check(out, &s)
        }
        Command::Export {
            store,
            snapshot,
            salvage,
            write_size,
            erase_size,
            region_size,
            offset,
        } => {
            if let (Some(w), Some(e), true) = (write_size, erase_size, salvage) {
                let bytes = image_bytes(&store, offset.unwrap_or(0))?;
                let s = inspect::salvage_image(&bytes, w, e, region_size).map_err(|e| match e {
                    e @ twinkv_host::Error::InvalidOptions(_) => Failure::from(e),
                    e => Failure::new(
                        exit::CORRUPT,
                        format!("{}: nothing to salvage: {e}", store.display()),
                    ),
                })?;
                write_json(out, &s.entries)?;
                if s.stats.salvaged || s.unreadable > 0 {
                    out.flush().map_err(out_err)?;
                    return Err(Failure::new(
                        exit::CORRUPT,
                        format!(
                            "{}: salvaged: {} the entries above are the best state left{} \
                             (`twinkv image create` or `import` writes them anew)",
                            store.display(),
                            if s.stats.salvaged {
                                "its newest state is damaged;"
                            } else {
                                "some values failed their check and were left out;"
                            },
                            if s.stats.salvaged {
                                " and may be older than the last acknowledged write"
                            } else {
                                ""
                            },
                        ),
                    ));
                }
                return Ok(exit::OK);
            }
            if let (Some(w), Some(e)) = (write_size, erase_size) {
                let image = read_image(&store, w, e, region_size, offset.unwrap_or(0))?;
                let r = &image.report;
                if let Err(msg) = &r.open {
                    if matches!(r.verdict, Verdict::Clean) {
                        // Erased throughout: a store with nothing written yet.
                        write_json(out, &Vec::new())?;
                        return Ok(exit::OK);
                    }
                    return Err(Failure::new(
                        exit::CORRUPT,
                        format!(
                            "{}: the image cannot be opened: {msg}; run `twinkv inspect` \
                             with the same options to see what it holds (`--salvage` \
                             exports what can still be read)",
                            store.display()
                        ),
                    ));
                }
                write_json(out, &r.entries)?;
                return image_damage_check(out, r);
            }
            let s = open_reader_or_salvage(&store, snapshot, salvage)?;
            write_json(out, &sorted(&s)?)?;
            salvaged_check(out, &store, &s)?;
            damaged_check(out, &s)
        }
        Command::Import {
            store,
            file,
            create,
        } => {
            let entries = read_entries(&file)?;
            let opts = create_options(&create)?;
            w.creating(&store, opts, |s| {
                Ok(s.set_many(entries.iter().map(|(k, v)| (k, v)))?)
            })?;
            writeln!(out, "imported {} entries", entries.len()).map_err(out_err)?;
            Ok(exit::OK)
        }
        Command::Stats {
            store,
            snapshot,
            json,
        } => {
            let s = open_reader(&store, snapshot)?;
            if json {
                crate::json::write(out, &crate::json::stats(&s)?)?;
            } else {
                crate::report::stats(out, &s)?;
            }
            Ok(exit::OK)
        }
        Command::Verify {
            store,
            snapshot,
            verbose,
            json,
        } => {
            let r = inspect::verify_store(&store, snapshot)?;
            if json {
                crate::json::write(out, &crate::json::verify(&r, verbose))?;
            } else {
                crate::report::verify(out, &r, verbose)?;
            }
            Ok(verdict_code(&r.verdict))
        }
        Command::Compact { store } => {
            let mut s = w.open(&store)?;
            s.compact()?;
            let st = s.stats()?;
            w.finish(s)?;
            writeln!(
                out,
                "compacted: region {:?}, generation {}, {} live bytes, {} keys",
                st.active, st.generation, st.live_bytes, st.live_keys
            )
            .map_err(out_err)?;
            Ok(exit::OK)
        }
        Command::Repair { store, yes } => repair(out, &store, yes, &w),
        Command::Resize { store, size } => {
            let mut s = w.open(&store)?;
            s.resize(size)?;
            w.finish(s)?;
            writeln!(out, "resized: {size} bytes per region").map_err(out_err)?;
            Ok(exit::OK)
        }
        Command::Demo { dir } => crate::demo::run(out, dir),
        Command::Inspect {
            image,
            write_size,
            erase_size,
            region_size,
            offset,
            json,
        } => {
            let img = read_image(&image, write_size, erase_size, region_size, offset)?;
            let src = crate::json::ImageSource {
                path: &image.display().to_string(),
                file_size: img.file_size,
                offset,
                write_unit: write_size,
                erase_unit: erase_size,
            };
            if json {
                crate::json::write(out, &crate::json::inspect(&img.report, &src))?;
            } else {
                crate::report::inspect(out, &img.report, &src)?;
            }
            Ok(verdict_code(&img.report.verdict))
        }
        Command::Image {
            command:
                ImageCommand::Create {
                    write_size,
                    erase_size,
                    region_size,
                    store_id,
                    limits,
                    ratios,
                    from,
                    output,
                },
        } => {
            let geometry = ImageGeometry {
                write_unit: write_size,
                erase_unit: erase_size,
                region_size,
            };
            let entries = read_entries(&from)?;
            image_create(out, geometry, store_id, limits, ratios, &entries, &output)
        }
        #[cfg(feature = "_test-hooks")]
        Command::CrashWriter {
            store,
            start,
            count,
            size,
            sync_every_write,
        } => crate::crash::writer(out, &store, start, count, size, sync_every_write),
    }
}

/// After listing a store: keys that answer with a corruption error were not
/// listed; say so (exit 3).
fn damaged_check(out: Out<'_>, s: &Store) -> Res {
    let damaged = s.stats()?.damaged_keys;
    if damaged == 0 {
        return Ok(exit::OK);
    }
    out.flush().map_err(out_err)?;
    Err(Failure::new(
        exit::CORRUPT,
        format!("{damaged} damaged key(s) or key group(s) not shown; run `twinkv verify`"),
    ))
}

fn verdict_code(v: &Verdict) -> u8 {
    match v {
        Verdict::Corrupt(_) => exit::CORRUPT,
        _ => exit::OK,
    }
}

/// How write commands open and close a store.
struct Writer {
    no_sync: bool,
}

impl Writer {
    fn options(&self, o: Options) -> Options {
        o.sync_on_close(!self.no_sync)
    }

    /// Opens an existing store for writing: never creates nor formats.
    fn open(&self, store: &Path) -> Result<Store, Failure> {
        Ok(Store::open(
            store,
            self.options(Options::new().create(false)),
        )?)
    }

    /// Syncs (unless `--no-sync`) and closes.
    fn finish(&self, s: Store) -> Result<(), Failure> {
        if !self.no_sync {
            s.close()?;
        }
        Ok(())
    }

    /// Opens (creating it if absent), runs `f`, syncs and closes. If `f`
    /// fails on a store this command created, its files are removed again.
    fn creating(
        &self,
        store: &Path,
        opts: Options,
        f: impl FnOnce(&mut Store) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut s = Store::open(store, self.options(opts))?;
        if let Err(e) = f(&mut s) {
            if s.created() {
                // Still locked by us: nobody else has opened them.
                let (a, b) = s.file_paths();
                let _ = std::fs::remove_file(a);
                let _ = std::fs::remove_file(b);
                // The index checkpoint its drop writes goes too.
                drop(s);
                let _ = std::fs::remove_file(twinkv_host::checkpoint_path(store));
            }
            return Err(e);
        }
        self.finish(s)
    }
}

/// The options of a new store, checked before anything is created: invalid
/// ones are a usage error (exit 2).
fn create_options(c: &CreateOpts) -> Result<Options, Failure> {
    let mut o = Options::new();
    if let Some(s) = c.size {
        o = o.region_size(s);
    }
    if let Some(h) = c.high_water {
        o = o.high_water(h);
    }
    o.validate()?;
    Ok(o)
}

fn open_reader_or_salvage(store: &Path, snapshot: bool, salvage: bool) -> Result<Store, Failure> {
    if salvage {
        return Store::open_salvage(store).map_err(|e| match e {
            // Neither file is a region: the remedy the error names is this.
            e @ twinkv_host::Error::NotARegion { .. } => {
                Failure::new(exit::ERROR, format!("{e}: nothing to salvage"))
            }
            e => e.into(),
        });
    }
    open_reader(store, snapshot)
}

/// After the output of a salvage that had to fall back (core's `salvaged`):
/// exit 3, saying that the state shown may be older than the last
/// acknowledged write.
fn salvaged_check(out: Out<'_>, store: &Path, s: &Store) -> Result<(), Failure> {
    if !s.stats()?.salvaged {
        return Ok(());
    }
    out.flush().map_err(out_err)?;
    Err(Failure::new(
        exit::CORRUPT,
        format!(
            "{}: salvaged: its newest state is damaged or one of its files unreadable; \
             the entries above are the best state left and may be older than the last \
             acknowledged write (`twinkv import NEW FILE` puts them in a new store)",
            store.display()
        ),
    ))
}

fn open_reader(store: &Path, snapshot: bool) -> Result<Store, Failure> {
    Ok(if snapshot {
        Store::open_snapshot(store)?
    } else {
        Store::open_read_only(store)?
    })
}

impl Command {
    /// The store base path of a command that takes one.
    fn store(&self) -> Option<&Path> {
        match self {
            Command::Set { store, .. }
            | Command::Get { store, .. }
            | Command::Rm { store, .. }
            | Command::List { store, .. }
            | Command::Dump { store, .. }
            | Command::Import { store, .. }
            | Command::Stats { store, .. }
            | Command::Verify { store, .. }
            | Command::Compact { store, .. }
            | Command::Repair { store, .. }
            | Command::Resize { store, .. } => Some(store),
            Command::Export {
                store, write_size, ..
            } if write_size.is_none() => Some(store),
            _ => None,
        }
    }
}

fn repair(out: Out<'_>, store: &Path, yes: bool, w: &Writer) -> Res {
    let report = inspect::verify_store(store, false)?;
    if report.damaged.is_empty() && !matches!(report.verdict, Verdict::Corrupt(_)) {
        writeln!(out, "nothing to repair ({})", report.verdict.name()).map_err(out_err)?;
        return Ok(exit::OK);
    }
    writeln!(out, "damaged records that repair drops:").map_err(out_err)?;
    for (off, key) in &report.damaged {
        let key = if key.is_empty() {
            "(key unknown)".to_string()
        } else {
            show_key(key)
        };
        writeln!(out, "  offset {off}: {key}").map_err(out_err)?;
    }
    if let Verdict::Corrupt(findings) = &report.verdict {
        for f in findings {
            writeln!(out, "  {f}").map_err(out_err)?;
        }
    }
    if !yes {
        return Err(Failure::new(
            exit::USAGE,
            "refusing to repair without --yes (the records above would be dropped)",
        ));
    }
    let mut s = w.open(store)?;
    let dropped = s.repair()?;
    let st = s.stats()?;
    w.finish(s)?;
    writeln!(
        out,
        "repaired: dropped {dropped} damaged key(s) or key group(s); region {:?}, generation {}, {} keys",
        st.active, st.generation, st.live_keys
    )
    .map_err(out_err)?;
    Ok(exit::OK)
}
