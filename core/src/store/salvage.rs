//! Salvage (FORMAT.md §8, last paragraph): what [`Store::open_salvage`]
//! presents of a store whose newest state the open table refuses.

use super::*;

#[io]
impl<R: Region, I: Index, B: AsMut<[u8]>> Store<R, I, B> {
    /// The salvage path of [`Store::open_salvage`].
    pub(super) async fn salvage(&mut self, ca: RegionClass, cb: RegionClass) -> Res<(), R::Error> {
        let committed = |c: RegionClass| match c {
            RegionClass::Formatted {
                header,
                commit: MarkerState::Valid(_),
                ..
            } => Some(header),
            _ => None,
        };
        // A newer partner whose own header is unreadable, but whose commit
        // is valid for the derived store id and generation.
        for (x_is_a, cx) in [(true, ca), (false, cb)] {
            let Some(hx) = committed(cx) else { continue };
            let Some(next) = next_generation(hx.generation) else {
                continue;
            };
            let seal = Seal {
                store_id: hx.store_id,
                generation: next,
            };
            let (y, cy) = if x_is_a {
                (&mut self.pair.b, cb)
            } else {
                (&mut self.pair.a, ca)
            };
            if matches!(cy, RegionClass::Formatted { header, .. } if header.generation == seal.generation)
            {
                continue; // its header is fine: not this case
            }
            if let MarkerState::Valid(end) = y.read_marker(Marker::Commit, seal).await? {
                let header = RegionHeader {
                    generation: seal.generation,
                    region_size: y.geo.size,
                    ..hx
                };
                let class = RegionClass::Formatted {
                    header,
                    switching: y.read_marker(Marker::Switching, seal).await?,
                    commit: MarkerState::Valid(end),
                    superseded: y.read_marker(Marker::Superseded, seal).await?,
                };
                self.pair.set_active_a(!x_is_a);
                self.salvaged = true;
                let loading = self.loading(&class, &cx)?;
                return self.load_active(loading).await.map(|_| ());
            }
        }
        // Else the newest committed region there is, flagged as possibly old.
        let newest = match (committed(ca), committed(cb)) {
            (Some(a), Some(b)) => Some(a.generation >= b.generation),
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        };
        if let Some(use_a) = newest {
            self.pair.set_active_a(use_a);
            self.salvaged = true;
            let (active, partner) = if use_a { (ca, cb) } else { (cb, ca) };
            let loading = self.loading(&active, &partner)?;
            return self.load_active(loading).await.map(|_| ());
        }
        // No commit anywhere (e.g. the only formatted region's commit was
        // damaged): the newest formatted region of ours, read as if its
        // commit said "nothing copied" (no sync point but its own records).
        let formatted = |c: RegionClass| match c {
            RegionClass::Formatted { header, .. }
                if self.config.adopt_store_id || header.store_id == self.config.store_id =>
            {
                Some(header.generation)
            }
            _ => None,
        };
        let use_a = match (formatted(ca), formatted(cb)) {
            (Some(a), Some(b)) => a >= b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return Err(Fail::Corrupted),
        };
        self.pair.set_active_a(use_a);
        let (mut active, partner) = if use_a { (ca, cb) } else { (cb, ca) };
        let d = self.pair.active().data_start();
        if let RegionClass::Formatted { commit, .. } = &mut active {
            *commit = MarkerState::Valid(d);
        }
        self.salvaged = true;
        let mut loading = self.loading(&active, &partner)?;
        // Its records may be a switch's copies, whose updates were claimed
        // against the index of the region they were copied from.
        loading.claims = false;
        self.load_active(loading).await.map(|_| ())
    }
}
