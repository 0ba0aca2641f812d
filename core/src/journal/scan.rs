//! Rebuilding the in-memory state from one region (FORMAT.md §5, §6).
//!
//! [`replay`] walks the log once, feeding intact records to a [`Sink`]. If the
//! walk met no problem (the normal case) that is all. Otherwise it knows the
//! last sync point and where the dirty tail starts, resets the sink and walks
//! again up to the tail, registering every problem before it as mid-log damage.
//!
//! A problem may start the dirty tail only if a crash can leave it there
//! (FORMAT.md §6.2, §10.1): it lies after the last sync point, and its shape is
//! one the medium can produce when power is lost. Anything else is damage:
//! reported, and the records after it are kept.

use super::{io, Region};
use super::{Journal, Window};
use crate::damage::{Damage, Scope};
use crate::error::bug;
use crate::error::{Fail, Res};
use crate::format::area::{self, BatchBegin};
use crate::format::record::{self, Kind, RecordHeader, SealState, Slot};
use crate::format::{Limits, Seal};

/// Receives what a scan finds.
#[io(AFIT)]
pub(crate) trait Sink<R: Region> {
    /// An intact set, delete, or keyed damaged record at `off`, stored in
    /// `len` bytes; `w` holds its bytes on a region that does not lend them.
    async fn record(
        &mut self,
        j: &mut Journal<R>,
        off: u32,
        h: &RecordHeader,
        len: u32,
        key_hash: u32,
        w: &Window<'_>,
    ) -> Res<(), R::Error>;
    /// Keys covered by damage.
    fn damage(&mut self, d: Damage);
    /// An intact clear record: forget every key.
    fn clear(&mut self);
    /// An intact erased record (FORMAT.md §7.3): the partner's erase units
    /// `0..pending` may hold bytes, for a partner of `partner_size` bytes.
    fn erased(&mut self, pending: u32, partner_size: u32);
    /// Forget everything (before the second walk).
    fn reset(&mut self);
}

/// What a replay found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Where the log ends: the append position if clean, else the tail start.
    pub(crate) end: u32,
    /// The log can be appended to at `end`.
    pub(crate) clean: bool,
    /// The last sync point.
    pub(crate) last_sync: u32,
    /// Problems registered as mid-log damage.
    pub(crate) damaged: u32,
    /// The log ends before stray bytes (FORMAT.md §6.2), counted in
    /// `damaged`; it is not clean.
    pub(crate) stray: bool,
}

#[derive(Clone, Copy)]
enum Pass {
    /// Optimistic walk that also finds sync points and problems.
    First,
    /// [`Pass::First`] from a checkpoint's position, with its last sync
    /// point (FORMAT.md §11).
    #[cfg(feature = "checkpoint")]
    Resume { from: u32, last_sync: u32 },
    /// Walk up to `limit`; every problem is mid-log damage.
    Second { limit: u32 },
}

struct Walk {
    stop: u32,
    clean: bool,
    last_sync: u32,
    /// The first problem after the last sync point that a crash can leave.
    pending: Option<u32>,
    /// Regions that persist in order: a crash tears only the last program
    /// call (one record), so the region must read erased from here on for
    /// `pending` to be a torn tail (FORMAT.md §10.1).
    bound: u32,
    /// `pending` is an uncommitted batch: its own intact records follow it.
    pending_batch: bool,
    /// The region persists in order.
    in_order: bool,
    /// The records since the last problem that may have hidden a batch
    /// begin are sets and deletes only: they may be a batch that was never
    /// committed (FORMAT.md §6.2, "unproven records").
    unproven: bool,
    problems: u32,
    /// The log ended before stray bytes (FORMAT.md §6.2).
    stray: bool,
}

/// Replays region `j` (committed, data end `data_end`) into `sink`. On a
/// region that does not lend its bytes, the log is read through `scratch`
/// (see [`Window`]).
#[io]
pub(crate) async fn replay<R: Region, S: Sink<R>>(
    j: &mut Journal<R>,
    seal: &Seal,
    limits: Limits,
    data_end: u32,
    sink: &mut S,
    scratch: &mut [u8],
) -> Res<Outcome, R::Error> {
    let first = walk(j, seal, limits, data_end, sink, Pass::First, scratch).await?;
    if first.problems == 0 && first.clean {
        return Ok(Outcome {
            end: first.stop,
            clean: true,
            last_sync: first.last_sync,
            damaged: 0,
            stray: false,
        });
    }
    let mut pending = first.pending;
    if pending.is_some()
        && j.region.persists_in_order()
        && first.bound < j.size()
        && !j.is_erased(first.bound, j.size()).await?
    {
        // Bytes were programmed beyond what the last program call could
        // have reached: not a torn write, but damage.
        pending = None;
    }
    let end = pending.unwrap_or(first.stop);
    sink.reset();
    let second = walk(
        j,
        seal,
        limits,
        data_end,
        sink,
        Pass::Second {
            limit: pending.unwrap_or(u32::MAX),
        },
        scratch,
    )
    .await?;
    Ok(Outcome {
        end,
        clean: first.clean && pending.is_none(),
        last_sync: first.last_sync.min(end),
        damaged: second.problems,
        stray: second.stray,
    })
}

/// [`replay`] from `from.0`, where an index checkpoint was taken (FORMAT.md
/// §11), the last sync point before it `from.1`: the sink holds what a
/// replay up to it fed. `None` if the walk from
/// there meets any problem or does not end clean: the caller then resets
/// the sink and replays from the data start.
#[cfg(feature = "checkpoint")]
#[io]
pub(crate) async fn replay_from<R: Region, S: Sink<R>>(
    j: &mut Journal<R>,
    seal: &Seal,
    limits: Limits,
    data_end: u32,
    from: (u32, u32),
    sink: &mut S,
    scratch: &mut [u8],
) -> Res<Option<Outcome>, R::Error> {
    let pass = Pass::Resume {
        from: from.0,
        last_sync: from.1,
    };
    let walked = walk(j, seal, limits, data_end, sink, pass, scratch).await?;
    if walked.problems != 0 || !walked.clean {
        return Ok(None);
    }
    Ok(Some(Outcome {
        end: walked.stop,
        clean: true,
        last_sync: walked.last_sync,
        damaged: 0,
        stray: false,
    }))
}

#[io]
async fn walk<R: Region, S: Sink<R>>(
    j: &mut Journal<R>,
    seal: &Seal,
    limits: Limits,
    data_end: u32,
    sink: &mut S,
    pass: Pass,
    scratch: &mut [u8],
) -> Res<Walk, R::Error> {
    let mut win = Window::new(scratch);
    let size = j.size();
    let w = j.geo.write_unit;
    let in_order = j.region.persists_in_order();
    let mut s = Walk {
        stop: j.data_start(),
        clean: false,
        last_sync: data_end,
        pending: None,
        bound: 0,
        pending_batch: false,
        in_order,
        unproven: false,
        problems: 0,
        stray: false,
    };
    // The most a single program call (one record) can span.
    let max_record = record::stored_len(
        limits.max_key,
        limits.max_value.max(record::SYSTEM_VALUE_MAX),
        w,
    )
    .ok_or_else(|| bug!())?;
    // Every record check of the region starts from its seal's state.
    let sealed = SealState::new(*seal);
    // Records before it were checked at once by the switch's covering
    // marker (FORMAT.md §6.4); the data start when there is none. (Read
    // again by the second walk, which only a log with problems takes:
    // passed in from `replay`, one more argument made the reboot
    // firmware's peak stack 2,052 B, over 2 KiB.)
    #[cfg(feature = "checkpoint")]
    let resume_from = match pass {
        Pass::Resume { from, last_sync } => Some((from, last_sync)),
        _ => None,
    };
    #[cfg(not(feature = "checkpoint"))]
    let resume_from: Option<(u32, u32)> = None;
    let covered = match resume_from {
        // Past any covered span (the caller notes the checkpoint's).
        Some(_) => 0,
        None => {
            let covered = j.covered_to(data_end, sealed, limits.max_key, limits.max_value);
            j.note_covered(covered);
            covered
        }
    };
    // Records inside a batch do not make sync points until its commit.
    let mut batch_until: u32 = 0;
    let mut pos = j.data_start();
    if let Some((from, last_sync)) = resume_from {
        // The walk goes on as it would have there.
        pos = from;
        s.stop = from;
        s.last_sync = last_sync;
    }
    loop {
        if let Pass::Second { limit } = pass {
            if pos >= limit {
                s.stop = limit;
                unproven_end(sink, &mut s, limit);
                return Ok(s);
            }
        }
        if pos >= size {
            s.stop = size;
            s.clean = true;
            unproven_end(sink, &mut s, size);
            return Ok(s);
        }
        // In place on a region that lends its bytes: the header, its stored
        // length and the record check in one call.
        let lent = if pos < covered {
            j.lent_covered(pos, covered, limits.max_key, limits.max_value)
        } else {
            j.lent_record(pos, limits.max_key, limits.max_value, sealed)
        };
        let slot = match lent {
            Some((h, ..)) => Slot::Header(h),
            None => {
                j.slot_in(&mut win, pos, limits.max_key, limits.max_value)
                    .await?
            }
        };
        let h = match slot {
            Slot::Erased if j.clean_past(pos, max_record, win.from(pos)).await? => {
                s.stop = pos;
                if pos < data_end {
                    // The commit says records reach `data_end`: the log was
                    // erased from here by damage. Keys whose newest record
                    // precedes it are unknown; never append over the gap.
                    problem(&mut s, pos, false, false, pos);
                    sink.damage(Damage {
                        scope: Scope::Any,
                        offset: pos,
                    });
                    return Ok(s);
                }
                s.clean = true;
                unproven_end(sink, &mut s, pos);
                return Ok(s);
            }
            Slot::Erased
                if in_order
                    && pos >= s.last_sync
                    && stray_past(j, pos, max_record, sealed, limits).await? =>
            {
                // Stray bytes past the log's end (FORMAT.md §6.2), which
                // ends at or after the last sync point: damage that covers
                // no key. The log ends here, as if clean, but nothing is
                // appended before them: the next write switches.
                problem(&mut s, pos, false, false, pos);
                s.stray = true;
                s.stop = pos;
                unproven_end(sink, &mut s, pos);
                return Ok(s);
            }
            Slot::Erased | Slot::Invalid => {
                // A hole or a bad header: the keys in the gap are unknown.
                // A hole reads erased, as a lost or unprogrammed unit does;
                // a bad header is torn only if it ends in erased bytes.
                let torn = if in_order {
                    // A torn program only clears bits the record clears: its
                    // kind (1..=14) keeps a bit of the low nibble set.
                    matches!(slot, Slot::Erased) || kind_bits(j, pos).await? != 0
                } else {
                    matches!(slot, Slot::Erased) || torn_header(j, pos).await?
                };
                let reach = if in_order && matches!(slot, Slot::Invalid) {
                    torn_reach(j, pos, max_record).await?
                } else {
                    max_record
                };
                problem(&mut s, pos, torn, false, pos.saturating_add(reach));
                sink.damage(Damage {
                    scope: Scope::Any,
                    offset: pos,
                });
                // The gap may have held a batch begin.
                s.unproven = true;
                match resync(j, pos + w, sealed, limits).await? {
                    Some(q) => {
                        pos = q;
                        continue;
                    }
                    None => {
                        s.stop = pos;
                        return Ok(s);
                    }
                }
            }
            Slot::Header(h) => h,
        };
        let (len, intact, key_hash) = match lent {
            Some((_, len, intact, key_hash)) => (len, intact, key_hash),
            None => {
                let len = h.stored_len(w).ok_or_else(|| bug!())?;
                let (intact, key_hash) = j.verify_in(&mut win, pos, &h, sealed).await?;
                (len, intact, key_hash)
            }
        };
        let formed = intact && well_formed(j, &win, pos, &h, limits).await?;
        if !formed {
            // An intact record breaking its kind's rules was never written:
            // damage. A record failing its check is torn only if it ends in
            // erased bytes (on media that do not persist in order).
            let torn = !intact && (in_order || j.torn_suffix(pos, pos + h.unaligned_len()).await?);
            problem(&mut s, pos, torn, false, pos.saturating_add(max_record));
            // A record of an earlier generation of this region (a unit
            // reverted to older content) stands where another record was:
            // its key hash says nothing of the keys that record held.
            let scope = if !intact && stale(j, &mut win, pos, &h, *seal).await? {
                // It may stand where a batch begin was.
                s.unproven = true;
                Some(Scope::Any)
            } else {
                damage_scope(&h)
            };
            if matches!(h.kind, Kind::BatchBegin) {
                // A batch began here; whether it was committed is lost.
                s.unproven = true;
            }
            if let Some(scope) = scope {
                sink.damage(Damage { scope, offset: pos });
            }
            pos += len;
            continue;
        }
        let end = pos + len;
        if !matches!(h.kind, Kind::Set | Kind::Delete) {
            // No batch holds another kind, and nothing is appended after a
            // batch that was never committed: the records before it were
            // not one.
            s.unproven = false;
        }
        if in_order && !s.pending_batch {
            // In order, an intact record programmed after a problem proves
            // the problem was not the last program call: damage.
            s.pending = None;
            s.bound = 0;
        }
        let mut sync_point = in_order && end >= batch_until;
        match h.kind {
            Kind::Set | Kind::Delete => sink.record(j, pos, &h, len, key_hash, &win).await?,
            Kind::Damaged if h.key_len > 0 => sink.record(j, pos, &h, len, key_hash, &win).await?,
            Kind::Damaged => {
                let scope = if h.value_len == 0 {
                    Scope::Hash(h.hash)
                } else {
                    Scope::Any
                };
                sink.damage(Damage { scope, offset: pos });
            }
            Kind::Clear => sink.clear(),
            Kind::BatchBegin => {
                if !matches!(pass, Pass::Second { .. }) {
                    match batch_commit(j, &win, pos, &h, *seal, limits, in_order).await? {
                        Batch::Committed(commit_end) => batch_until = commit_end,
                        Batch::Uncommitted { expected_end, torn } => {
                            // A problem here; its records make no sync point.
                            // A sync point after it (an intact record past
                            // its expected end, on in-order media) turns it
                            // into mid-log damage.
                            // Its begin is intact: the program a cut tore is
                            // one of its records or its commit, all before
                            // the commit's end.
                            let reach = expected_end.unwrap_or(size);
                            problem(&mut s, pos, torn, true, reach);
                            batch_until = reach;
                        }
                    }
                    sync_point = false;
                }
            }
            Kind::BatchCommit => {}
            // The marker proves its span was durable (FORMAT.md §6.3); its
            // coverage check is for tools (`twinkv verify`), not re-read here.
            Kind::SyncMarker => sync_point = true,
            Kind::Erased => {
                let v = j.checked_bytes(&win, pos + h.header_len(), 8)?;
                let pending = record::value_u32(v, 0).ok_or_else(|| bug!())?;
                let size = record::value_u32(v, 1).ok_or_else(|| bug!())?;
                sink.erased(pending, size);
            }
            Kind::Reserved(_) => return Err(Fail::UnsupportedFormat),
        }
        if sync_point {
            // Never below the commit's data end: the records a switch copied
            // are all before a sync point, whatever their order.
            s.last_sync = s.last_sync.max(end);
            s.pending = None;
            s.bound = 0;
        }
        pos = end;
    }
}

/// The log ends at `stop` after unproven records (FORMAT.md §6.2): a
/// damage entry for every key up to `stop`, as if they were part of the
/// gap before them (they may be a batch that was never committed: applied,
/// a delete among them would hide an acknowledged value), and the log is
/// not appended to (the next write switches), so that no acknowledged
/// write ever lands among them.
fn unproven_end<R: Region, S: Sink<R>>(sink: &mut S, s: &mut Walk, stop: u32) {
    if s.unproven {
        s.clean = false;
        sink.damage(Damage {
            scope: Scope::Any,
            offset: stop,
        });
    }
}

/// Counts a problem at `pos`. It may start the dirty tail only if a crash
/// can leave it (`torn`) and it lies after the last sync point; `reach` is
/// how far the program call that tore it could have written.
///
/// Not inlined in a firmware: inlined at its three calls it made [`walk`]
/// 714 B larger (footprint's blocking row: 636 B of flash in all).
#[cfg_attr(not(feature = "fast-crc"), inline(never))]
fn problem(s: &mut Walk, pos: u32, torn: bool, batch: bool, reach: u32) {
    s.problems += 1;
    // In order, only the last program call can be torn: of two problems
    // after the last sync point, the earlier is damage unless it is the
    // uncommitted batch the later one belongs to. That holds whether or
    // not the later one can be a tear itself (a slot whose kind bits read
    // zero cannot).
    if s.in_order && !(s.pending_batch && pos < s.bound) {
        s.pending = None;
        s.pending_batch = false;
        s.bound = 0;
    }
    if !torn || pos < s.last_sync {
        return;
    }
    if s.pending.is_none() {
        s.pending = Some(pos);
        s.pending_batch = batch;
        s.bound = 0;
    } else if s.in_order && s.pending_batch && pos < s.bound {
        // A problem inside the uncommitted batch: its records end before
        // the batch's commit does, so the tear's reach stays the batch's.
        return;
    }
    s.bound = s.bound.max(reach);
}

/// How far the program call of a record whose header at `pos` does not
/// decode can have reached, on a region that persists in order: a torn
/// program only clears bits the record clears, so every bit the record's
/// header has set still reads set, and each length field read is at least
/// the one programmed. When the form bit reads `0` the record was a short
/// one (FORMAT.md §4.1) of at most the key and value lengths read; else
/// (a long header, or a header left erased) `max_record`. Zeros past that
/// reach, like any bytes, are then damage, not the tear (fuzz finding
/// `ops/in-order-zeroed-unit-over-records-after-a-torn-header`).
#[io]
async fn torn_reach<R: Region>(
    j: &mut Journal<R>,
    pos: u32,
    max_record: u32,
) -> Res<u32, R::Error> {
    let mut b = [0u8; 4];
    if pos.saturating_add(4) > j.size() {
        return Ok(max_record);
    }
    j.read(pos, &mut b).await?;
    let bits = u32::from_le_bytes(b);
    if bits & (1 << 4) != 0 {
        return Ok(max_record);
    }
    let key = (bits >> 5) & 0x3F;
    let value = (bits >> 11) & 0x1FFF;
    let len = record::stored_len(key, value, j.geo.write_unit).unwrap_or(max_record);
    Ok(len.min(max_record))
}

/// The kind bits (low nibble) of the first byte at `pos`.
#[io]
async fn kind_bits<R: Region>(j: &mut Journal<R>, pos: u32) -> Res<u8, R::Error> {
    let mut b = [0u8; 1];
    j.read(pos, &mut b).await?;
    Ok(b[0] & 0x0F)
}

/// Whether the slot at `pos`, which does not decode as a header, is one a
/// crash tore on a region that does not persist in order (FORMAT.md §10.1).
/// A header is copied front to back and a lost page reads erased from some
/// byte to the end of its sector, so a torn header is a written prefix —
/// its first byte, never `0xFF` in a header, included — followed by erased
/// bytes to its end (8 bytes, or 16 when its first byte says long form).
/// The prefix stops before the header check is complete (else the header
/// would decode), and a long form keeps bits 5..8 of its first byte clear.
/// A header split by a sector boundary is judged per sector.
#[io]
async fn torn_header<R: Region>(j: &mut Journal<R>, pos: u32) -> Res<bool, R::Error> {
    let mut b = [0u8; record::LONG_HEADER_LEN as usize];
    j.read(pos, &mut b[..1]).await?;
    let long = b[0] != 0xFF && record::is_long_form(b[0]);
    let len = if long {
        record::LONG_HEADER_LEN
    } else {
        record::SHORT_HEADER_LEN
    }
    .min(j.size() - pos);
    j.read(pos, &mut b[..len as usize]).await?;
    let b = &b[..len as usize];
    let e = j.geo.erase_unit;
    let first_piece = (((pos / e + 1) * e).min(pos + len) - pos) as usize;
    if first_piece < b.len() {
        if b[0] == 0xFF && b[..first_piece].iter().any(|&x| x != 0xFF) {
            return Ok(false);
        }
        return j.torn_suffix(pos, pos + len).await;
    }
    let erased_tail = b.iter().rev().take_while(|&&x| x == 0xFF).count();
    let written = b.len() - erased_tail;
    // Bytes before the header check is complete: 0..5 short, 0..10 long.
    let check_end = if long { 10 } else { 5 };
    Ok(written >= 1 && written < check_end && b[0] != 0xFF && (!long || b[0] & 0xE0 == 0))
}

/// How many earlier generations of a region [`stale`] tries.
const STALE_GENERATIONS: u64 = 32;

/// Whether the record at `pos`, failing its check for `seal`, is intact for
/// one of the region's earlier generations (`seal`'s generation − 2, − 4, …;
/// the two regions alternate): left from an earlier use of the region.
///
/// Never inlined (blocking engine), nor is [`batch_commit`]: a replay
/// rarely needs them, and inlined their buffers and arguments sat in
/// [`walk`]'s frame, under every record the sink takes (footprint's reboot
/// row: 40 B of stack, and 40 B less flash).
#[io]
#[cfg_attr(not(feature = "async"), inline(never))]
async fn stale<R: Region>(
    j: &mut Journal<R>,
    win: &mut Window<'_>,
    pos: u32,
    h: &RecordHeader,
    seal: Seal,
) -> Res<bool, R::Error> {
    for k in 1..=STALE_GENERATIONS {
        let Some(generation) = seal.generation.checked_sub(2 * k).filter(|&g| g >= 1) else {
            break;
        };
        let earlier = SealState::new(Seal { generation, ..seal });
        if j.verify_in(win, pos, h, earlier).await?.0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Keys a damaged record (valid header, failed check) may have hidden.
fn damage_scope(h: &RecordHeader) -> Option<Scope> {
    match h.kind {
        Kind::Set | Kind::Delete => Some(Scope::Hash(h.hash)),
        Kind::Damaged if h.key_len > 0 => Some(Scope::Hash(h.hash)),
        Kind::Damaged | Kind::Clear | Kind::Reserved(_) => Some(Scope::Any),
        // Their own fields are lost; the records around them still parse.
        Kind::BatchBegin | Kind::BatchCommit | Kind::SyncMarker => None,
        // Losing one only makes erase ahead repeat units (FORMAT.md §7.3).
        Kind::Erased => None,
    }
}

/// The per-kind rules of FORMAT.md §4.3 for an intact record.
#[io]
async fn well_formed<R: Region>(
    j: &mut Journal<R>,
    win: &Window<'_>,
    pos: u32,
    h: &RecordHeader,
    limits: Limits,
) -> Res<bool, R::Error> {
    let (k, v) = (h.key_len, h.value_len);
    Ok(match h.kind {
        Kind::Set => k >= 1 && v <= limits.max_value,
        Kind::Delete => k >= 1 && v == 0,
        Kind::BatchBegin => k == 0 && v == 8,
        Kind::BatchCommit => k == 0 && v == 16,
        Kind::Clear => k == 0 && v == 0,
        Kind::SyncMarker | Kind::Erased => k == 0 && v == 8,
        Kind::Damaged if k >= 1 => v == 0,
        Kind::Damaged if v == 0 => true,
        Kind::Damaged if v == 1 => j.checked_bytes(win, pos + h.header_len(), 1)? == [0x01],
        Kind::Damaged => false,
        Kind::Reserved(_) => true,
    })
}

#[derive(Clone, Copy)]
enum Batch {
    /// Committed; the end of its commit record.
    Committed(u32),
    /// Not committed.
    Uncommitted {
        /// Where its commit record would end, if that is inside the region.
        expected_end: Option<u32>,
        /// A crash can leave it so: the region persists in order (the commit
        /// or a record was the torn program), or, on other regions, its
        /// commit or a failing inner record ends in erased bytes.
        torn: bool,
    },
}

/// Checks the batch beginning at `b` (FORMAT.md §5).
#[io]
#[cfg_attr(not(feature = "async"), inline(never))]
async fn batch_commit<R: Region>(
    j: &mut Journal<R>,
    win: &Window<'_>,
    b: u32,
    h: &RecordHeader,
    seal: Seal,
    limits: Limits,
    in_order: bool,
) -> Res<Batch, R::Error> {
    let w = j.geo.write_unit;
    let v = j.checked_bytes(win, b + h.header_len(), 8)?;
    let begin = BatchBegin::from_value(v).ok_or_else(|| bug!())?;
    let begin_len = h.stored_len(w).ok_or_else(|| bug!())?;
    let commit_len = record::stored_len(0, 16, w).ok_or_else(|| bug!())?;
    let c = begin.commit_at(b, begin_len);
    let Some(c) = c.filter(|&c| c % w == 0 && c < j.size()) else {
        // An intact begin record whose fields point outside the region was
        // never written: damage.
        return Ok(Batch::Uncommitted {
            expected_end: None,
            torn: false,
        });
    };
    let expected_end = c.checked_add(commit_len).filter(|&e| e <= j.size());
    // The commit is missing or fails: torn if it was the interrupted program
    // (in order), or if some of its bytes read erased (a lost or unwritten
    // page).
    let commit_span = (c + record::SHORT_HEADER_LEN + 16).min(j.size());
    let commit = match j.slot(c, limits.max_key, limits.max_value).await? {
        Slot::Header(ch) if area::is_batch_commit(&ch) => Some(ch),
        _ => None,
    };
    let ch = match commit {
        Some(ch) if j.verify(c, &ch, SealState::new(seal)).await?.0 => ch,
        _ => {
            return Ok(Batch::Uncommitted {
                expected_end,
                torn: in_order || j.torn_suffix(c, commit_span).await?,
            })
        }
    };
    let mut cv = [0u8; 16];
    j.read(c + ch.header_len(), &mut cv).await?;
    if !begin.closed_by(b, &ch, &cv) {
        // An intact commit that does not match its begin: damage.
        return Ok(Batch::Uncommitted {
            expected_end,
            torn: false,
        });
    }
    if !in_order
        && j.crc_range(0, b + begin_len, c).await? != record::value_u32(&cv, 3).unwrap_or(0)
    {
        // The commit is durable but an inner record is not what was written:
        // a lost page reads (partly) erased; anything else is damage.
        return Ok(Batch::Uncommitted {
            expected_end,
            torn: inner_torn(j, b + begin_len, c, seal, limits).await?,
        });
    }
    Ok(Batch::Committed(c + commit_len))
}

/// Whether a record between `from` and `to` (a batch's inner records) fails
/// and ends in erased bytes, as a page lost from the page cache leaves it.
#[io]
async fn inner_torn<R: Region>(
    j: &mut Journal<R>,
    from: u32,
    to: u32,
    seal: Seal,
    limits: Limits,
) -> Res<bool, R::Error> {
    let w = j.geo.write_unit;
    let sealed = SealState::new(seal);
    let mut pos = from;
    while pos < to {
        let h = match j.slot(pos, limits.max_key, limits.max_value).await? {
            Slot::Header(h) => h,
            Slot::Erased => return Ok(true),
            Slot::Invalid => return torn_header(j, pos).await,
        };
        if !j.verify(pos, &h, sealed).await?.0
            && j.torn_suffix(pos, pos + h.unaligned_len()).await?
        {
            return Ok(true);
        }
        pos += h.stored_len(w).ok_or_else(|| bug!())?;
    }
    Ok(false)
}

/// Whether the scan, at an erased slot at `p` with bytes past it that do
/// not read erased (the log is not clean there), meets stray bytes
/// (FORMAT.md §6.2): no intact record follows `p`, and the first write
/// unit that does not read erased lies at least `R` past `p` and past the
/// start of its erase unit. Regions that persist in order only. Out of
/// line: its locals stay out of [`walk`]'s frame.
#[io]
#[inline(never)]
async fn stray_past<R: Region>(
    j: &mut Journal<R>,
    p: u32,
    max_record: u32,
    sealed: SealState,
    limits: Limits,
) -> Res<bool, R::Error> {
    let e = j.geo.erase_unit;
    if max_record >= e {
        // No byte lies `R` into its unit: nothing to read.
        return Ok(false);
    }
    let size = j.size();
    let Some(x) = j.first_programmed(p, size).await? else {
        return Ok(false);
    };
    if !super::lazy::stray(p, x, max_record, e) {
        return Ok(false);
    }
    // Nothing of the log after them: no intact record of this region's
    // seal follows `p`.
    Ok(resync(j, p + j.geo.write_unit, sealed, limits)
        .await?
        .is_none())
}

/// The next offset after `from` that holds an intact record of a known kind.
#[io]
async fn resync<R: Region>(
    j: &mut Journal<R>,
    from: u32,
    sealed: SealState,
    limits: Limits,
) -> Res<Option<u32>, R::Error> {
    let w = j.geo.write_unit;
    let mut q = from;
    while q < j.size() {
        if let Slot::Header(h) = j.slot(q, limits.max_key, limits.max_value).await? {
            if !matches!(h.kind, Kind::Reserved(_)) && j.verify(q, &h, sealed).await?.0 {
                return Ok(Some(q));
            }
        }
        q += w;
    }
    Ok(None)
}
