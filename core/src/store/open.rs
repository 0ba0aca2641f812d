//! Opening a store: the decision table of FORMAT.md §8, salvage, the first
//! format and loading the active region.

use super::replay::IndexSink;
use super::*;
use crate::error::bug;

/// How [`Store::open_reading`] ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Opening {
    Done,
    /// Classify with full reads and decide again.
    Again,
}

/// What loading the active region ([`Store::load_active`]) takes of the
/// two regions' classes: a few fields, so that the classes (64 B each) are
/// not on the stack under the replay.
#[derive(Clone, Copy)]
pub(super) struct Loading {
    /// Where its commit says the copied records end (`None`: its commit is
    /// not valid, a bug).
    data_end: Option<u32>,
    /// Its header matches the region's geometry and the configuration.
    fits: bool,
    /// Its "switching" marker is set.
    switching: bool,
    /// The partner reads empty.
    partner_empty: bool,
    /// The partner is formatted for the same store id and the next
    /// generation, without a valid commit: a switch's target.
    partner_next: bool,
    /// Its commit is its own: updates past its data end may be taken on
    /// their claim (FORMAT.md §6.5). Not so for a region salvaged as if
    /// its commit said "nothing copied".
    pub(super) claims: bool,
}

/// An active region decided on, not yet loaded.
pub(super) struct Active {
    loading: Loading,
    /// The decision's flags (see [`Decision::Active`]).
    finish_superseded: bool,
    erasing_partner: bool,
    commit_torn: bool,
}

/// What opening decided.
pub(super) enum Decision {
    /// Both regions empty (or an interrupted first format): format A.
    Fresh,
    /// Use this region; maybe finish a switch by marking the other superseded.
    Active {
        a: bool,
        finish_superseded: bool,
        /// The partner is unrecognised: acceptable only if the active log
        /// says erase ahead is erasing it (FORMAT.md §8).
        erasing_partner: bool,
        /// The region's commit reads torn (a weak commit, FORMAT.md §8):
        /// reported as damage found at open.
        commit_torn: bool,
    },
}

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    pub(super) async fn open_mode(
        a: R,
        b: R,
        index: I,
        mut scratch: B,
        config: Config,
        mode: OpenMode,
    ) -> Result<Self, R::Error> {
        Self::check_parts(&a, &b, &mut scratch, config)?;
        // Built once and opened in place: a `Store` returned through the
        // decision's layers by value would sit in several stack frames.
        let mut store = Self::build(a, b, index, scratch, config, mode);
        store.open_built(mode).await?;
        Ok(store)
    }

    /// [`Store::open_mode`] into `slot` ([`Store::open_in`]): the store is
    /// built in the slot by a call of its own (whose frame is gone before
    /// the open reads anything) and opened there. The slot is emptied on
    /// failure.
    pub(super) async fn open_mode_in(
        slot: &mut Option<Self>,
        a: R,
        b: R,
        index: I,
        mut scratch: B,
        config: Config,
        mode: OpenMode,
    ) -> Result<&mut Self, R::Error> {
        *slot = None;
        Self::check_parts(&a, &b, &mut scratch, config)?;
        Self::build_in(slot, a, b, index, scratch, config, mode);
        let Some(store) = slot else {
            return Err(bug!().into());
        };
        if let Err(e) = store.open_built(mode).await {
            *slot = None;
            return Err(e.into());
        }
        Ok(slot.as_mut().ok_or_else(|| bug!())?)
    }

    /// Puts [`Store::build`]'s store in `slot`; never inlined, so that the
    /// store is not built in the caller's frame too.
    #[inline(never)]
    fn build_in(
        slot: &mut Option<Self>,
        a: R,
        b: R,
        index: I,
        scratch: B,
        config: Config,
        mode: OpenMode,
    ) {
        *slot = Some(Self::build(a, b, index, scratch, config, mode));
    }

    /// The checks every way of opening makes before anything is read: the
    /// configuration fits the regions, and the scratch buffer is long
    /// enough (the length is the public error's, hence not in
    /// [`build`](Self::build): the engine's errors carry none).
    pub(super) fn check_parts(
        a: &R,
        b: &R,
        scratch: &mut B,
        config: Config,
    ) -> Result<(), R::Error> {
        let (ga, gb) = (a.geometry(), b.geometry());
        if !config.fits(ga, gb) {
            return Err(Error::InvalidConfig);
        }
        let needed = config.scratch_len(ga.write_unit);
        if scratch.as_mut().len() < needed {
            return Err(Error::BufferTooSmall(needed));
        }
        Ok(())
    }

    /// The store as the open starts from it, on parts that
    /// [`check_parts`](Self::check_parts) accepted.
    #[inline(always)]
    pub(super) fn build(a: R, b: R, index: I, scratch: B, config: Config, mode: OpenMode) -> Self {
        // The seal cache starts with the store's own seal (generation 0):
        // an all-zero one made the store's start 24 zero bytes in a row,
        // which a firmware cleared with `__aeabi_memclr8` (174 B) for this
        // call alone.
        let seal = Seal {
            store_id: config.store_id,
            generation: 0,
        };
        let reach = config.max_record_len(a.geometry().write_unit).unwrap_or(0);
        Store {
            pair: Pair::new(a, b, reach),
            index,
            damage: DamageList::default(),
            scratch,
            config,
            store_id: config.store_id,
            generation: 0,
            sealed: (seal, SealState::new(seal)),
            tally: Tally::default(),
            read_only: matches!(mode, OpenMode::ReadOnly | OpenMode::Salvage),
            poisoned: false,
            in_call: false,
            switches: 0,
            unfinished_switch: false,
            damage_at_open: 0,
            strays: 0,
            salvaged: false,
            formatted: false,
            suspects: false,
            inactive_unsynced: false,
            copy: CopyState::Idle,
            #[cfg(feature = "checkpoint")]
            resume: None,
            #[cfg(feature = "checkpoint")]
            resumed: false,
            #[cfg(feature = "checkpoint")]
            prefix: None,
        }
    }

    /// Opens the store [`Store::build`] made: the decision of FORMAT.md §8,
    /// made again on full reads if a lazily judged partner holds bytes.
    pub(super) async fn open_built(&mut self, mode: OpenMode) -> Res<(), R::Error> {
        // One call of `open_reading` (in a loop), so that it can be inlined.
        let mut full = false;
        loop {
            if self.open_reading(mode, full).await? == Opening::Done {
                return Ok(());
            }
            if full {
                return Err(bug!());
            }
            // A partner whose header area read erased holds bytes after all:
            // decide again on full reads (nothing was written).
            self.forget();
            full = true;
        }
    }

    /// Back to what `open_mode` starts from (nothing was written).
    fn forget(&mut self) {
        self.pair.a.forget();
        self.pair.b.forget();
        self.pair.set_active_a(true);
        self.damage = DamageList::default();
        self.store_id = self.config.store_id;
        self.generation = 0;
        self.tally = Tally::default();
        self.unfinished_switch = false;
        self.damage_at_open = 0;
        self.strays = 0;
        self.salvaged = false;
        self.formatted = false;
        #[cfg(feature = "checkpoint")]
        {
            // Decided again on full reads: replayed from the data start.
            self.resume = None;
            self.resumed = false;
            self.prefix = None;
        }
    }

    /// Opens the store built by [`Store::open_mode`], classifying a region
    /// whose header area reads erased as empty without reading the rest
    /// (`full`: reading it all) when the other region is committed: the rest
    /// is read only if the active log does not say the partner is fully
    /// erased (FORMAT.md §8).
    async fn open_reading(&mut self, mode: OpenMode, full: bool) -> Res<Opening, R::Error> {
        let salvage = mode == OpenMode::Salvage;
        let format = mode == OpenMode::Format;
        // The classes are gone from the stack once the decision is made:
        // only what loading needs of them is kept, under the replay.
        let Some(Active {
            loading,
            finish_superseded,
            erasing_partner,
            commit_torn,
        }) = self.open_deciding(mode, full).await?
        else {
            return Ok(Opening::Done);
        };
        let store = self;
        let loaded = match store.load_active(loading).await {
            // Nothing proves the partner's bytes are ours.
            Ok(erasing) if erasing_partner && !erasing => Err(Fail::Unrecognised),
            r => r.map(|_| ()),
        };
        match loaded {
            Err(Fail::Unrecognised) if salvage => {
                // What salvage would show: the newest committed region.
                store.salvaged = true;
                return Ok(Opening::Done);
            }
            Err(e) if format && !matches!(e, Fail::Region(_)) => {
                // A store of this id that cannot be used with these
                // options (or is damaged): formatted anew.
                store.index.clear();
                store.damage.clear();
                store.format_fresh(false).await?;
                return Ok(Opening::Done);
            }
            r => r?,
        }
        store.open_loaded(finish_superseded, commit_torn).await
    }

    /// The end of [`open_reading`](Self::open_reading) once the active
    /// region is loaded: the partner's rest, the damage count, and the
    /// switch to finish (`finish_superseded`). Never inlined (blocking
    /// engine): its marker's buffers stay out of the caller's frame.
    #[cfg_attr(not(feature = "async"), inline(never))]
    async fn open_loaded(
        &mut self,
        finish_superseded: bool,
        commit_torn: bool,
    ) -> Res<Opening, R::Error> {
        // A partner that read empty from its header area alone: the
        // active log's erased record for it says it is ours (units
        // past `pending` erased by us, read again before a switch
        // uses them; units before it ours to erase), or the rest is
        // read now (FORMAT.md §7.3).
        let p = self.pair.inactive_mut();
        if p.empty_unverified() {
            let erased_by_us = p.pending_recorded();
            if !erased_by_us && !p.is_erased(0, p.size()).await? {
                return Ok(Opening::Again);
            }
        }
        self.damage_at_open += u32::from(commit_torn);
        if finish_superseded {
            if self.read_only {
                self.unfinished_switch = true;
            } else {
                let seal = Seal {
                    store_id: self.store_id,
                    generation: self.generation - 1,
                };
                let old = self.pair.inactive_mut();
                old.program_marker(Marker::Superseded, seal, 0).await?;
                old.sync().await?;
            }
        }
        Ok(Opening::Done)
    }

    /// The part of [`open_reading`](Self::open_reading) that classifies
    /// both regions and decides (FORMAT.md §8), formatting or salvaging
    /// when that is the decision (then `None`). Else the active region is
    /// set and what loading it takes is returned. Never inlined (blocking
    /// engine): the two classes stay in its frame, gone before the replay.
    #[cfg_attr(not(feature = "async"), inline(never))]
    async fn open_deciding(&mut self, mode: OpenMode, full: bool) -> Res<Option<Active>, R::Error> {
        let read_only = self.read_only;
        let salvage = mode == OpenMode::Salvage;
        let format = mode == OpenMode::Format;
        let store = self;
        // A checkpoint's entries stay in the index until the replay takes
        // or drops them.
        #[cfg(feature = "checkpoint")]
        let keep = store.resume.is_some();
        #[cfg(not(feature = "checkpoint"))]
        let keep = false;
        if !keep {
            store.index.clear();
        }
        let (mut ca, mut cb) = (RegionClass::Empty, RegionClass::Empty);
        store.pair.a.classify(full, &mut ca).await?;
        store.pair.b.classify(full, &mut cb).await?;
        let mut decided = store.decide(ca, cb).await;
        let lazy = store.pair.a.empty_unverified() || store.pair.b.empty_unverified();
        if lazy && !matches!(decided, Ok(Decision::Active { .. })) {
            // Only a committed region's partner is judged lazily.
            store.pair.a.classify(true, &mut ca).await?;
            store.pair.b.classify(true, &mut cb).await?;
            decided = store.decide(ca, cb).await;
        }
        let decision = match decided {
            Err(Fail::Corrupted | Fail::Unrecognised) if salvage => {
                store.salvage(ca, cb).await?;
                return Ok(None);
            }
            Err(e) if format && !matches!(e, Fail::Region(_)) => {
                store.format_fresh(false).await?;
                return Ok(None);
            }
            d => d?,
        };
        match decision {
            Decision::Fresh => {
                if read_only {
                    return Err(Fail::ReadOnly);
                }
                store
                    .format_fresh(!format && matches!(ca, RegionClass::Empty))
                    .await?;
                Ok(None)
            }
            Decision::Active {
                a,
                finish_superseded,
                erasing_partner,
                commit_torn,
            } => {
                store.pair.set_active_a(a);
                let (active, partner) = if a { (&mut ca, &cb) } else { (&mut cb, &ca) };
                if commit_torn {
                    // A weak commit (`weak_commit`): read from the data start.
                    store.assume_committed(active);
                }
                Ok(Some(Active {
                    loading: store.loading(active, partner)?,
                    finish_superseded,
                    erasing_partner,
                    commit_torn,
                }))
            }
        }
    }

    /// The decision table of FORMAT.md §8.
    pub(super) async fn decide(
        &mut self,
        ca: RegionClass,
        cb: RegionClass,
    ) -> Res<Decision, R::Error> {
        use RegionClass::*;
        let cfg = self.config;
        let id_ok = |h: &RegionHeader| cfg.adopt_store_id || h.store_id == cfg.store_id;
        let committed = |c: &MarkerState| matches!(c, MarkerState::Valid(_));
        if matches!(ca, Unsupported) || matches!(cb, Unsupported) {
            return Err(Fail::UnsupportedFormat);
        }
        let decision = match (ca, cb) {
            (Empty, Empty) => Decision::Fresh,
            (
                Formatted {
                    header: ha,
                    commit: ma,
                    superseded: sa,
                    ..
                },
                Formatted {
                    header: hb,
                    commit: mb,
                    superseded: sb,
                    ..
                },
            ) => {
                if ha.store_id != hb.store_id || !id_ok(&ha) {
                    return Err(Fail::ForeignStore);
                }
                // An uncommitted partner newer than the committed region can
                // only be the target of a switch out of it that was cut
                // (FORMAT.md §7.2): the committed region says "switching" and
                // the partner carries the next generation. Anything else is
                // damage (e.g. a committed successor whose commit was hit).
                let cut_switch = |from: &RegionHeader, sw: MarkerState, to: &RegionHeader| {
                    to.generation < from.generation
                        || (sw.is_set() && Some(to.generation) == next_generation(from.generation))
                };
                let (swa, swb) = match (ca, cb) {
                    (Formatted { switching: x, .. }, Formatted { switching: y, .. }) => (x, y),
                    _ => return Err(bug!()),
                };
                match (committed(&ma), committed(&mb)) {
                    (true, false) if !cut_switch(&ha, swa, &hb) => return Err(Fail::Corrupted),
                    (false, true) if !cut_switch(&hb, swb, &ha) => return Err(Fail::Corrupted),
                    _ => {}
                }
                match (committed(&ma), committed(&mb)) {
                    (true, true) => {
                        if ha.generation == hb.generation
                            || ha.generation.abs_diff(hb.generation) != 1
                        {
                            return Err(Fail::Corrupted);
                        }
                        let a_newer = ha.generation > hb.generation;
                        let (newer_sup, older_sup) = if a_newer { (sa, sb) } else { (sb, sa) };
                        if newer_sup.is_set() {
                            return Err(Fail::Corrupted);
                        }
                        Decision::Active {
                            a: a_newer,
                            finish_superseded: !older_sup.is_set(),
                            erasing_partner: false,
                            commit_torn: false,
                        }
                    }
                    (true, false) if !sa.is_set() => Decision::Active {
                        a: true,
                        finish_superseded: false,
                        erasing_partner: false,
                        commit_torn: false,
                    },
                    (false, true) if !sb.is_set() => Decision::Active {
                        a: false,
                        finish_superseded: false,
                        erasing_partner: false,
                        commit_torn: false,
                    },
                    // The older region superseded, the newer one's commit
                    // torn: on flash, a weak commit that read valid when an
                    // earlier open programmed "superseded" (FORMAT.md §8).
                    (true, false) if sa.is_set() && self.weak_commit(false, &cb, &ha) => {
                        Decision::Active {
                            a: false,
                            finish_superseded: false,
                            erasing_partner: false,
                            commit_torn: true,
                        }
                    }
                    (false, true) if sb.is_set() && self.weak_commit(true, &ca, &hb) => {
                        Decision::Active {
                            a: true,
                            finish_superseded: false,
                            erasing_partner: false,
                            commit_torn: true,
                        }
                    }
                    _ => return Err(Fail::Corrupted),
                }
            }
            (
                Formatted {
                    header,
                    commit,
                    superseded,
                    switching,
                },
                other,
            )
            | (
                other,
                Formatted {
                    header,
                    commit,
                    superseded,
                    switching,
                },
            ) => {
                let a = matches!(ca, Formatted { .. });
                if !id_ok(&header) {
                    return Err(Fail::ForeignStore);
                }
                let is_committed = committed(&commit);
                match other {
                    Empty if is_committed && !superseded.is_set() => Decision::Active {
                        a,
                        finish_superseded: false,
                        erasing_partner: false,
                        commit_torn: false,
                    },
                    // An interrupted first format: A (the first format never
                    // writes B) with the header this configuration writes
                    // first, and nothing past the marker area ever programmed
                    // — a cut first format leaves no record behind. Format A
                    // again (erasing it first); B is erased before its first
                    // use either way. A header without a commit anywhere
                    // else, or over records, is damage (FORMAT.md §8).
                    Empty
                        if !is_committed
                            && !superseded.is_set()
                            && !switching.is_set()
                            && self.first_format_cut(a, &header).await? =>
                    {
                        Decision::Fresh
                    }
                    Unrecognised if is_committed && !superseded.is_set() => {
                        let partner = if a {
                            &mut self.pair.b
                        } else {
                            &mut self.pair.a
                        };
                        let seal = header.seal();
                        // Whatever else it is, a partner whose commit is
                        // valid for the next generation is the newest state
                        // with a damaged header.
                        let next = next_generation(header.generation).map(|g| Seal {
                            generation: g,
                            ..seal
                        });
                        if let Some(next) = next {
                            if partner.read_marker(Marker::Commit, next).await?.is_valid() {
                                return Err(Fail::Corrupted);
                            }
                        }
                        // The target of a cut switch out of this region, or
                        // our superseded predecessor with a damaged header;
                        // else it must be the partner erase ahead is erasing,
                        // which only the active log can say.
                        let known = switching.is_set() || older_of(partner, seal).await?;
                        Decision::Active {
                            a,
                            finish_superseded: false,
                            erasing_partner: !known,
                            commit_torn: false,
                        }
                    }
                    _ => return Err(Fail::Corrupted),
                }
            }
            (Unrecognised, Empty) if self.torn_first_format().await? => Decision::Fresh,
            _ => return Err(Fail::Unrecognised),
        };
        Ok(decision)
    }

    /// Whether the newer region (`a`: region A), classified `newer`, next
    /// to its superseded predecessor with header `older`, holds a commit
    /// that a weak cell made read torn: it carries the next generation, its
    /// commit slot reads torn (programmed), and the region persists in order
    /// (only flash has weak cells), its own "superseded" slot erased. Then it
    /// is taken as committed with its log read from the data start (every
    /// intact record is a sync point in order): see
    /// [`assume_committed`](Self::assume_committed).
    pub(super) fn weak_commit(&self, a: bool, newer: &RegionClass, older: &RegionHeader) -> bool {
        let j = if a { &self.pair.a } else { &self.pair.b };
        // A newer region marked superseded is the newest state lost.
        matches!(
            newer,
            RegionClass::Formatted {
                header,
                commit: MarkerState::Torn,
                superseded: MarkerState::Erased,
                ..
            } if Some(header.generation) == next_generation(older.generation)
        ) && j.region.persists_in_order()
    }

    /// The active region, classified `class`, taken as committed with its
    /// log read from the data start (a weak commit, see
    /// [`weak_commit`](Self::weak_commit)).
    fn assume_committed(&self, class: &mut RegionClass) {
        let d = self.pair.active().data_start();
        if let RegionClass::Formatted { commit, .. } = class {
            *commit = MarkerState::Valid(d);
        }
    }

    /// Whether the formatted, uncommitted region (`a`: region A) with
    /// `header` is a first format that was cut: region A, the configured
    /// store id, generation 1, and its log area reads erased.
    pub(super) async fn first_format_cut(
        &mut self,
        a: bool,
        header: &RegionHeader,
    ) -> Res<bool, R::Error> {
        if !a || header.store_id != self.config.store_id || header.generation != 1 {
            return Ok(false);
        }
        let (d, size) = (self.pair.a.data_start(), self.pair.a.size());
        self.pair.a.is_erased(d, size).await
    }

    /// Whether region A holds nothing but a torn program of the generation-1
    /// header this configuration would write (a cut during the first format,
    /// when B is still empty): every programmed bit is one of that header's
    /// zero bits, and everything after the header block reads erased.
    pub(super) async fn torn_first_format(&mut self) -> Res<bool, R::Error> {
        if self.config.adopt_store_id {
            return Ok(false); // the id to expect is unknown
        }
        // What the first format programs: the header block, then the commit
        // marker. A cut (or a cut erase of a cut format) leaves, in each byte,
        // some of those bits and 0xFF elsewhere.
        let layout = self.pair.a.layout;
        let d = layout.data_start();
        let mut want = [0xFFu8; 160];
        let seal = Seal {
            store_id: self.config.store_id,
            generation: 1,
        };
        want[..crate::format::HEADER_LEN]
            .copy_from_slice(&self.header_for(&self.pair.a, 1).encode());
        let c = layout.commit() as usize;
        want[c..c + crate::format::MARKER_LEN].copy_from_slice(&Marker::Commit.encode(seal, d));
        if !self.pair.a.may_be_torn(0, &want[..d as usize]).await? {
            return Ok(false);
        }
        let size = self.pair.a.size();
        self.pair.a.is_erased(d, size).await
    }

    /// Formats region A as generation 1 of a new store; `read_empty`: A was
    /// classified empty and need not be erased first.
    pub(super) async fn format_fresh(&mut self, read_empty: bool) -> Res<(), R::Error> {
        self.program_fresh(read_empty).await?;
        let a = &mut self.pair.a;
        a.classify(true, &mut RegionClass::Empty).await?;
        a.start_log();
        // Committed with an empty log, and read in full just now.
        a.committed(a.data_start());
        // B may be an erase cut short as well: erase it before its first use.
        self.pair.b.set_all_pending();
        Ok(())
    }

    /// [`format_fresh`](Self::format_fresh) up to a header and a commit
    /// that read back as written. Never inlined, nor is
    /// [`load_active`](Self::load_active): in the caller their buffers
    /// would sit under every read the classification makes.
    #[inline(never)]
    async fn program_fresh(&mut self, read_empty: bool) -> Res<(), R::Error> {
        self.formatted = true;
        self.pair.set_active_a(true);
        self.store_id = self.config.store_id;
        self.generation = 1;
        self.cache_seal();
        let header = self.header_for(&self.pair.a, 1);
        let seal = self.seal();
        let a = &mut self.pair.a;
        // Erase A first when it holds bytes (a first format cut short). An A
        // that reads empty is programmed as it is: erasing it would risk a cut
        // erase leaving unrecognisable bytes behind. But an empty-looking unit
        // may be an erase cut short (not reliably erased), so if a program
        // fails or does not read back as written, A is erased and formatted
        // once more.
        if read_empty {
            a.set_read_empty();
        } else {
            a.set_all_pending();
        }
        let d = a.data_start();
        let mut attempt = 0;
        loop {
            a.erase_for_format().await?;
            let programmed = a.program_header(&header).await.is_ok()
                && a.sync().await.is_ok()
                && a.program_marker(Marker::Commit, seal, d).await.is_ok()
                && a.sync().await.is_ok();
            let header_back = a.header_reads_back(&header).await?;
            let ok = programmed
                && header_back
                && a.read_marker(Marker::Commit, seal).await? == MarkerState::Valid(d);
            if ok {
                break;
            }
            if attempt == 1 {
                // Report the region's own error if there was one.
                a.region.sync().await.map_err(Fail::Region)?;
                return Err(Fail::Corrupted);
            }
            attempt += 1;
            a.set_all_pending();
        }
        Ok(())
    }

    /// What [`load_active`](Self::load_active) takes of the active
    /// region's class (`active`, formatted) and its partner's (`partner`);
    /// if the active header fits, the store takes its id and generation
    /// (and caches its seal: the replay reads it there).
    #[inline(never)]
    pub(super) fn loading(
        &mut self,
        active: &RegionClass,
        partner: &RegionClass,
    ) -> Res<Loading, R::Error> {
        let RegionClass::Formatted {
            header,
            switching,
            commit,
            ..
        } = *active
        else {
            return Err(bug!());
        };
        let geo = self.pair.active().geo;
        let cfg = self.config;
        let fits = header.region_size == geo.size
            && u32::from(header.write_unit) == geo.write_unit
            && header.erase_unit == geo.erase_unit
            && header.max_key_len == cfg.max_key_len
            && header.max_value_len == cfg.max_value_len
            && header.high_water_bp == cfg.high_water_bp
            && header.max_fill_bp == cfg.max_fill_bp;
        let next = next_generation(header.generation);
        let partner_next = matches!(
            *partner,
            RegionClass::Formatted { header: p, commit: pc, .. }
                if p.store_id == header.store_id
                    && Some(p.generation) == next
                    && !pc.is_valid()
        );
        if fits {
            self.store_id = header.store_id;
            self.generation = header.generation;
            self.cache_seal();
        }
        Ok(Loading {
            data_end: match commit {
                MarkerState::Valid(d) => Some(d),
                _ => None,
            },
            fits,
            switching: switching.is_set(),
            partner_empty: matches!(partner, RegionClass::Empty),
            partner_next,
            claims: true,
        })
    }

    /// Replays the active region (what [`loading`](Self::loading) took of
    /// its class and its partner's) and sets up the partner's erase state.
    /// Returns whether the active log says erase ahead is erasing the
    /// partner (an erased record for its size with units pending).
    #[inline(never)]
    pub(super) async fn load_active(&mut self, l: Loading) -> Res<bool, R::Error> {
        if !l.fits {
            return Err(Fail::ConfigMismatch);
        }
        let geo = self.pair.active().geo;
        let Some(data_end) = l.data_end else {
            return Err(bug!());
        };
        // The replay indexes plain offsets of the active region.
        if !self.pair.tag_is_plain() {
            return Err(bug!());
        }
        let limits = self.limits();
        #[cfg(feature = "checkpoint")]
        let start = self.resume_start(data_end).await?;
        // The seal cached by `loading`, by reference: no copy of it in this
        // frame, under the replay.
        debug_assert!(self.sealed.0 == self.seal());
        let (seal, index, damage, j) = (
            &self.sealed.0,
            &mut self.index,
            &mut self.damage,
            self.pair.active_mut(),
        );
        let scratch = self.scratch.as_mut();
        let mut sink = IndexSink {
            index,
            damage,
            limits,
            tally: Tally::default(),
            overflow: false,
            erased: None,
            copied_end: data_end,
            seen: 0,
            claims_from: if l.claims { data_end } else { u32::MAX },
        };
        #[cfg(feature = "checkpoint")]
        let resumed = match start {
            Some(start) => {
                // FORMAT.md §11: the walk goes on from the checkpoint's
                // position; any problem there drops the checkpoint, and so
                // does anything else but a region error (an entry that
                // does not name its key's record, more keys than the index
                // holds): the whole log is then replayed, as without one.
                sink.tally = start.tally;
                sink.erased = start.erased;
                sink.copied_end = 0;
                let from = (start.position, start.last_sync);
                match scan::replay_from(j, seal, limits, data_end, from, &mut sink, scratch).await {
                    Ok(Some(o)) if !sink.overflow && sink.damage.entries().is_empty() => {
                        Some((o, start.covered_end))
                    }
                    Err(Fail::Region(e)) => return Err(Fail::Region(e)),
                    _ => {
                        Sink::<R>::reset(&mut sink);
                        sink.copied_end = data_end;
                        None
                    }
                }
            }
            None => None,
        };
        #[cfg(feature = "checkpoint")]
        let outcome: Outcome = match resumed {
            Some((o, covered)) => {
                if let Some(c) = covered {
                    j.note_covered(c);
                }
                self.resumed = true;
                o
            }
            None => scan::replay(j, seal, limits, data_end, &mut sink, scratch).await?,
        };
        #[cfg(not(feature = "checkpoint"))]
        let outcome: Outcome = scan::replay(j, seal, limits, data_end, &mut sink, scratch).await?;
        if sink.overflow {
            // More keys than the index holds: the writer never needed them
            // all at once unless damage hid a delete (then say so).
            return Err(if self.damage.entries().is_empty() {
                Fail::IndexFull
            } else {
                Fail::Corrupted
            });
        }
        let mut tally = sink.tally;
        let sink_erased = sink.erased;
        let j = self.pair.active_mut();
        j.load(outcome);
        #[cfg(feature = "checkpoint")]
        j.set_loaded(data_end, sink_erased);
        self.damage_at_open = outcome.damaged;
        self.strays = u32::from(outcome.stray);
        for d in self.damage.entries() {
            tally.live_bytes = tally
                .live_bytes
                .checked_add(damage_record_len(d.scope, geo.write_unit))
                .ok_or_else(|| bug!())?;
        }
        self.tally = tally;
        let gen = self.generation;
        let erased = sink_erased;
        let active = self.pair.active_mut();
        // A switch erased everything pending in its target; a first format
        // programs region A as it read.
        active.set_erased_past_use(gen >= 2 && !self.salvaged);
        let in_order = self.pair.active().region.persists_in_order();
        let max_record = self
            .config
            .max_record_len(geo.write_unit)
            .unwrap_or(u32::MAX);
        let partner = self.pair.inactive_mut();
        let said = erased.filter(|&(_, size)| size == partner.size());
        let erasing = matches!(said, Some((p, _)) if p > 0);
        match said {
            // A switch out of the active region was cut after the log said
            // the partner was erased in full: since then only that switch
            // wrote it, from its start (FORMAT.md §7.4). What reads erased
            // past it (and one largest record) stays erased; the units past
            // the pending ones are read again before the next switch uses
            // them.
            Some((0, _)) if l.switching && in_order && l.partner_next => {
                let units = partner.programmed_units(max_record).await?;
                partner.set_pending(units);
                partner.set_pending_from_log();
            }
            // A switch out of the active region began: the partner may hold
            // any part of it.
            _ if l.switching => partner.set_all_pending(),
            Some((p, _)) => {
                partner.set_pending(p);
                partner.set_pending_recorded();
                partner.set_pending_from_log();
            }
            None if l.partner_empty => partner.set_read_empty(),
            // After a reboot nothing else says which units past the
            // partner's log were reliably erased: all of it.
            None => partner.set_all_pending(),
        }
        Ok(erasing)
    }
}

/// Whether `j`, whose header does not decode, is the superseded predecessor
/// of the region sealed `seal`: its "superseded" or "switching" marker is
/// valid for the previous generation of the same store id.
#[io]
pub(super) async fn older_of<R: Region>(j: &mut Journal<R>, seal: Seal) -> Res<bool, R::Error> {
    let Some(g) = seal.generation.checked_sub(1).filter(|&g| g >= 1) else {
        return Ok(false);
    };
    let prev = Seal {
        generation: g,
        ..seal
    };
    Ok(j.read_marker(Marker::Superseded, prev).await?.is_valid()
        || j.read_marker(Marker::Switching, prev).await?.is_valid())
}
