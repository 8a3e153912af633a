//! What the checks of a group's deliveries look at, read together and kept
//! current as the group's deliveries are judged.
//!
//! [`super::IngestTx::load_pool`] fills a [`ContextPool`] with the union of
//! what its deliveries' contexts read (the same statements as for one
//! delivery, with every list widened to the whole group). Then, delivery by
//! delivery in arrival order:
//! - [`ContextPool::context_for`] gives the delivery exactly the
//!   [`IngestContext`] that loading it alone would read now: every
//!   per-delivery filter of the SQL is repeated here, on indexes, so the
//!   union only widens what was read, never what one delivery gets;
//! - [`ContextPool::apply`] applies what the judged delivery is going to
//!   write (its raw sides, current versions, withdrawals and aliases), so the
//!   next delivery sees it as it would see the rows once written.
//!
//! So a whole group is judged on one load and written with one statement per
//! table, and each delivery still gets the context it would have had after
//! the deliveries before it (`tests/group_commit.rs` checks it against one
//! delivery after another, on both engines). A delivery whose context would
//! need rows the load did not read (a beneficiary or plan reached through an
//! alias a delivery of the same group recorded) is not covered:
//! `context_for` answers `None` and the group committer loads a new pool for
//! it and the deliveries after it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::domain::ingest::{
    AcceptedIntervention, BeneficiaryAlias, IngestContext, IngestResult, PriorIntervention,
    RawStamp,
};
use crate::domain::model::{Event, InterventionSubmission, PlanVersion, Saad};

/// One delivery's part of a grouped context load.
#[derive(Debug, Clone, Copy)]
pub struct ContextRequest<'a> {
    /// The posting SAAD.
    pub saad_siret: &'a str,
    /// The submitted lines.
    pub lines: &'a [InterventionSubmission],
    /// Gateway clock at reception.
    pub now: DateTime<Utc>,
}

/// The time window around one delivery's stamps in which accepted
/// interventions are its neighbours. An accepted period is at most 24 h long
/// (R1), so one that ends after `low` starts after `low - 24 h`: a bounded
/// index range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeighbourWindow {
    /// Neighbours end after this.
    pub low: DateTime<Utc>,
    /// Neighbours start before this.
    pub high: DateTime<Utc>,
    /// Neighbours start at or after this.
    pub earliest_start: DateTime<Utc>,
}

impl NeighbourWindow {
    /// The window of `lines`: a day either side of their stamps; `None`
    /// when no stamp resolves on its own.
    pub(crate) fn of(lines: &[InterventionSubmission]) -> Option<Self> {
        let mut instants = lines
            .iter()
            .flat_map(|l| [l.raw_start, l.raw_end, l.corrected_start, l.corrected_end])
            .flatten()
            .filter_map(|s| s.resolve_alone());
        let first = instants.next()?;
        let (min, max) = instants.fold((first, first), |(min, max), i| (min.min(i), max.max(i)));
        let low = min - Duration::days(1);
        Some(Self {
            low,
            high: max + Duration::days(1),
            earliest_start: low - Duration::days(1),
        })
    }

    /// The smallest window holding both.
    pub(crate) fn union(self, other: Self) -> Self {
        Self {
            low: self.low.min(other.low),
            high: self.high.max(other.high),
            earliest_start: self.earliest_start.min(other.earliest_start),
        }
    }

    fn holds(&self, inner: &Self) -> bool {
        self.low <= inner.low
            && self.high >= inner.high
            && self.earliest_start <= inner.earliest_start
    }

    fn admits(&self, period_start: DateTime<Utc>, period_end: DateTime<Utc>) -> bool {
        period_start >= self.earliest_start && period_start < self.high && period_end > self.low
    }
}

/// What one delivery's lines name by themselves.
#[derive(Debug)]
pub(crate) struct Named<'a> {
    /// Plan references of the lines.
    pub plans: BTreeSet<&'a str>,
    /// Beneficiary ids of the lines (the financer's, or the SAAD's aliases).
    pub beneficiaries: BTreeSet<&'a str>,
    /// Intervention ids.
    pub line_ids: BTreeSet<&'a str>,
    /// Worker ids.
    pub workers: BTreeSet<&'a str>,
}

impl<'a> Named<'a> {
    pub(crate) fn of(lines: &'a [InterventionSubmission]) -> Self {
        Self {
            plans: lines.iter().filter_map(|l| l.plan_ref.as_deref()).collect(),
            beneficiaries: lines.iter().map(|l| l.beneficiary_id.as_str()).collect(),
            line_ids: lines.iter().map(|l| l.line_id.as_str()).collect(),
            workers: lines
                .iter()
                .filter_map(|l| l.worker_id.as_ref().map(|w| w.as_str()))
                .collect(),
        }
    }
}

/// Rows keyed by SAAD, then by an id of that SAAD.
type BySaad<T> = HashMap<String, HashMap<String, T>>;

fn by_saad<'m, T>(map: &'m BySaad<T>, saad: &str, id: &str) -> Option<&'m T> {
    map.get(saad).and_then(|ids| ids.get(id))
}

fn by_saad_mut<'m, T: Default>(map: &'m mut BySaad<T>, saad: &str, id: &str) -> &'m mut T {
    map.entry(saad.to_owned())
        .or_default()
        .entry(id.to_owned())
        .or_default()
}

/// The lists the pool's statements were run with: a delivery whose context
/// needs anything outside them is not covered.
#[derive(Debug, Default)]
struct Loaded {
    saads: HashSet<String>,
    /// Alias ids of the aliases read by id (the beneficiary ids the lines name).
    alias_ids: HashSet<String>,
    /// Plans read by reference.
    plan_refs: HashSet<String>,
    /// Beneficiaries whose plans of the SAADs were read.
    beneficiaries: HashSet<String>,
    /// Plans whose aliases were read.
    context_plan_refs: HashSet<String>,
    /// Beneficiaries whose events were read.
    event_beneficiaries: HashSet<String>,
    /// Line ids of each SAAD whose raw sides and current version were read.
    line_ids: HashMap<String, HashSet<String>>,
    /// Neighbours read: beneficiaries (any SAAD), workers of each SAAD, and
    /// the window around every delivery's stamps.
    neighbour_beneficiaries: HashSet<String>,
    workers: HashMap<String, HashSet<String>>,
    span: Option<NeighbourWindow>,
}

fn all_in<'s>(set: &HashSet<String>, mut items: impl Iterator<Item = &'s str>) -> bool {
    items.all(|item| set.contains(item))
}

fn all_of_saad_in<'s>(
    sets: &HashMap<String, HashSet<String>>,
    saad: &str,
    mut items: impl Iterator<Item = &'s str>,
) -> bool {
    let set = sets.get(saad);
    items.all(|item| set.is_some_and(|s| s.contains(item)))
}

/// The union of a group's contexts, indexed, kept current (module docs).
#[derive(Debug, Default)]
pub struct ContextPool {
    loaded: Loaded,
    saads: BTreeMap<String, Saad>,
    /// Aliases by SAAD and alias id.
    named_aliases: BySaad<Vec<BeneficiaryAlias>>,
    /// Plan versions by reference, lowest version first.
    plans: BTreeMap<String, Vec<PlanVersion>>,
    /// Plan references by SAAD and beneficiary (of any of their versions).
    plans_of: BySaad<BTreeSet<String>>,
    /// Aliases by SAAD and plan, by alias id.
    plan_aliases: BySaad<BTreeMap<String, BeneficiaryAlias>>,
    /// Events by beneficiary, by start then kind.
    events: BTreeMap<String, Vec<Event>>,
    /// Raw sides by SAAD and line id: the first reception of each side.
    raw: BySaad<Vec<RawStamp>>,
    /// Current accepted version and its fingerprint, by SAAD and line id.
    current: BySaad<(AcceptedIntervention, Option<String>)>,
    /// Current accepted interventions read as neighbours, by (SAAD, line id).
    neighbours: BTreeMap<(String, String), AcceptedIntervention>,
    neighbours_of_beneficiary: HashMap<String, BTreeSet<(String, String)>>,
    neighbours_of_worker: BySaad<BTreeSet<(String, String)>>,
    /// Next acceptance sequence when the pool was read.
    pub(crate) next_sequence: i64,
}

impl ContextPool {
    // ----- filling (IngestTx::load_pool) -----

    pub(crate) fn note_saads<'s>(&mut self, requested: impl IntoIterator<Item = &'s str>) {
        self.loaded
            .saads
            .extend(requested.into_iter().map(str::to_owned));
    }

    pub(crate) fn set_saads(&mut self, saads: BTreeMap<String, Saad>) {
        self.saads = saads;
    }

    pub(crate) fn note_alias_ids<'s>(&mut self, ids: impl IntoIterator<Item = &'s str>) {
        self.loaded
            .alias_ids
            .extend(ids.into_iter().map(str::to_owned));
    }

    /// An alias read by its id (`saad_siret`, `alias_id` in the lists).
    pub(crate) fn add_named_alias(&mut self, saad: &str, alias: BeneficiaryAlias) {
        let list = by_saad_mut(&mut self.named_aliases, saad, &alias.alias_id);
        if !list.iter().any(|a| a.plan_ref == alias.plan_ref) {
            list.push(alias);
        }
    }

    pub(crate) fn note_plan_query<'s>(
        &mut self,
        plan_refs: impl IntoIterator<Item = &'s str>,
        beneficiaries: impl IntoIterator<Item = &'s str>,
    ) {
        self.loaded
            .plan_refs
            .extend(plan_refs.into_iter().map(str::to_owned));
        self.loaded
            .beneficiaries
            .extend(beneficiaries.into_iter().map(str::to_owned));
    }

    /// A plan version, read in (plan reference, version) order.
    pub(crate) fn add_plan(&mut self, plan: PlanVersion) {
        by_saad_mut(
            &mut self.plans_of,
            plan.saad_siret.as_str(),
            &plan.beneficiary_id,
        )
        .insert(plan.plan_ref.clone());
        self.plans
            .entry(plan.plan_ref.clone())
            .or_default()
            .push(plan);
    }

    pub(crate) fn note_context_plan_refs<'s>(&mut self, refs: impl IntoIterator<Item = &'s str>) {
        self.loaded
            .context_plan_refs
            .extend(refs.into_iter().map(str::to_owned));
    }

    /// An alias read by its plan.
    pub(crate) fn add_plan_alias(&mut self, saad: &str, alias: BeneficiaryAlias) {
        by_saad_mut(&mut self.plan_aliases, saad, &alias.plan_ref)
            .entry(alias.alias_id.clone())
            .or_insert(alias);
    }

    pub(crate) fn note_event_beneficiaries<'s>(
        &mut self,
        beneficiaries: impl IntoIterator<Item = &'s str>,
    ) {
        self.loaded
            .event_beneficiaries
            .extend(beneficiaries.into_iter().map(str::to_owned));
    }

    /// An event, read in (beneficiary, start, kind) order.
    pub(crate) fn add_event(&mut self, event: Event) {
        self.events
            .entry(event.beneficiary_id.clone())
            .or_default()
            .push(event);
    }

    pub(crate) fn note_line_ids<'s>(&mut self, saad: &str, ids: impl IntoIterator<Item = &'s str>) {
        self.loaded
            .line_ids
            .entry(saad.to_owned())
            .or_default()
            .extend(ids.into_iter().map(str::to_owned));
    }

    /// A raw side, read oldest first: the first reception of a side is the
    /// evidence, a later copy is ignored.
    pub(crate) fn add_raw(&mut self, saad: &str, line_id: &str, stamp: RawStamp) {
        let sides = by_saad_mut(&mut self.raw, saad, line_id);
        if !sides.iter().any(|s| s.side == stamp.side) {
            sides.push(stamp);
        }
    }

    /// A current accepted version of a line the lists name.
    pub(crate) fn add_current(
        &mut self,
        accepted: AcceptedIntervention,
        fingerprint: Option<String>,
    ) {
        let saad = accepted.saad_siret.clone();
        let line_id = accepted.line_id.clone();
        self.current
            .entry(saad)
            .or_default()
            .insert(line_id, (accepted, fingerprint));
    }

    pub(crate) fn note_neighbour_query<'s>(
        &mut self,
        beneficiaries: impl IntoIterator<Item = &'s str>,
        workers: &BTreeMap<&str, BTreeSet<&str>>,
        span: Option<NeighbourWindow>,
    ) {
        self.loaded
            .neighbour_beneficiaries
            .extend(beneficiaries.into_iter().map(str::to_owned));
        for (saad, ids) in workers {
            self.loaded
                .workers
                .entry((*saad).to_owned())
                .or_default()
                .extend(ids.iter().map(|w| (*w).to_owned()));
        }
        self.loaded.span = span;
    }

    /// A current accepted intervention read as a neighbour.
    pub(crate) fn add_neighbour(&mut self, neighbour: AcceptedIntervention) {
        let key = (neighbour.saad_siret.clone(), neighbour.line_id.clone());
        self.remove_neighbour(&key.0, &key.1);
        self.neighbours_of_beneficiary
            .entry(neighbour.beneficiary_id.clone())
            .or_default()
            .insert(key.clone());
        if let Some(worker) = &neighbour.worker_id {
            by_saad_mut(&mut self.neighbours_of_worker, &key.0, worker.as_str())
                .insert(key.clone());
        }
        self.neighbours.insert(key, neighbour);
    }

    fn remove_neighbour(&mut self, saad: &str, line_id: &str) {
        let key = (saad.to_owned(), line_id.to_owned());
        let Some(old) = self.neighbours.remove(&key) else {
            return;
        };
        if let Some(keys) = self.neighbours_of_beneficiary.get_mut(&old.beneficiary_id) {
            keys.remove(&key);
        }
        if let Some(keys) = old
            .worker_id
            .as_ref()
            .and_then(|w| self.neighbours_of_worker.get_mut(saad)?.get_mut(w.as_str()))
        {
            keys.remove(&key);
        }
    }

    // ----- per delivery: the SQL's per-delivery filters, shared by the load and the split -----

    /// The plans a delivery names (directly or through its SAAD's aliases of
    /// the beneficiary ids it names) and the beneficiaries it names
    /// (directly or through an alias).
    pub(crate) fn resolve<'p>(
        &'p self,
        saad: &str,
        named: &Named<'p>,
    ) -> (BTreeSet<&'p str>, BTreeSet<&'p str>) {
        let mut plans = named.plans.clone();
        let mut beneficiaries = named.beneficiaries.clone();
        for id in &named.beneficiaries {
            for alias in by_saad(&self.named_aliases, saad, id).into_iter().flatten() {
                plans.insert(alias.plan_ref.as_str());
                beneficiaries.insert(alias.beneficiary_id.as_str());
            }
        }
        (plans, beneficiaries)
    }

    /// The plans of a delivery's context: those it names that exist, and
    /// every plan ever assigned to its SAAD for a beneficiary it names.
    pub(crate) fn context_plan_refs<'p>(
        &'p self,
        saad: &str,
        plans: &BTreeSet<&'p str>,
        beneficiaries: &BTreeSet<&'p str>,
    ) -> BTreeSet<&'p str> {
        let mut refs: BTreeSet<&str> = beneficiaries
            .iter()
            .filter_map(|b| by_saad(&self.plans_of, saad, b))
            .flatten()
            .map(String::as_str)
            .collect();
        refs.extend(
            plans
                .iter()
                .filter_map(|p| self.plans.get_key_value(*p).map(|(k, _)| k.as_str())),
        );
        refs
    }

    /// The beneficiaries of these plans (any version).
    pub(crate) fn plan_beneficiaries<'p>(&'p self, refs: &BTreeSet<&'p str>) -> BTreeSet<&'p str> {
        refs.iter()
            .filter_map(|r| self.plans.get(*r))
            .flatten()
            .map(|p| p.beneficiary_id.as_str())
            .collect()
    }

    // ----- per delivery: the context -----

    /// The context `request` would read alone now (with `next_sequence` to
    /// hand out), or `None` when it needs rows this pool did not read.
    pub fn context_for(
        &self,
        request: &ContextRequest<'_>,
        next_sequence: i64,
    ) -> Option<IngestContext> {
        let saad = request.saad_siret;
        let loaded = &self.loaded;
        let named = Named::of(request.lines);
        let covered = loaded.saads.contains(saad)
            && all_in(&loaded.alias_ids, named.beneficiaries.iter().copied())
            && all_of_saad_in(&loaded.line_ids, saad, named.line_ids.iter().copied());
        if !covered {
            return None;
        }
        let (plan_refs, beneficiaries) = self.resolve(saad, &named);
        if !all_in(&loaded.plan_refs, plan_refs.iter().copied())
            || !all_in(&loaded.beneficiaries, beneficiaries.iter().copied())
        {
            return None;
        }
        let context_plan_refs = self.context_plan_refs(saad, &plan_refs, &beneficiaries);
        if !all_in(&loaded.context_plan_refs, context_plan_refs.iter().copied()) {
            return None;
        }
        let plan_beneficiaries = self.plan_beneficiaries(&context_plan_refs);
        if !all_in(
            &loaded.event_beneficiaries,
            plan_beneficiaries.iter().copied(),
        ) {
            return None;
        }
        let neighbours = match NeighbourWindow::of(request.lines) {
            None => Vec::new(),
            Some(window) => {
                let searched: BTreeSet<&str> =
                    beneficiaries.union(&plan_beneficiaries).copied().collect();
                let covered = loaded.span.is_some_and(|span| span.holds(&window))
                    && all_in(&loaded.neighbour_beneficiaries, searched.iter().copied())
                    && all_of_saad_in(&loaded.workers, saad, named.workers.iter().copied());
                if !covered {
                    return None;
                }
                self.neighbours_in(saad, &searched, &named.workers, &window)
            }
        };

        let plans: Vec<PlanVersion> = context_plan_refs
            .iter()
            .filter_map(|r| self.plans.get(*r))
            .flatten()
            .cloned()
            .collect();
        let aliases: Vec<BeneficiaryAlias> = context_plan_refs
            .iter()
            .filter_map(|r| by_saad(&self.plan_aliases, saad, r))
            .flat_map(|by_id| by_id.values().cloned())
            .collect();
        let events: Vec<Event> = plan_beneficiaries
            .iter()
            .filter_map(|b| self.events.get(*b))
            .flatten()
            .cloned()
            .collect();
        let mut priors = Vec::new();
        for line_id in &named.line_ids {
            let raw = by_saad(&self.raw, saad, line_id);
            let current = by_saad(&self.current, saad, line_id);
            if raw.is_none() && current.is_none() {
                continue;
            }
            let mut raw: Vec<RawStamp> = raw.cloned().unwrap_or_default();
            raw.sort_by_key(|r| r.side);
            priors.push(PriorIntervention {
                line_id: (*line_id).to_owned(),
                raw,
                accepted: current.map(|(a, _)| a.clone()),
                accepted_fingerprint: current.and_then(|(_, f)| f.clone()),
            });
        }
        Some(IngestContext {
            now: request.now,
            saad: self.saads.get(saad).cloned(),
            plans,
            aliases,
            events,
            priors,
            neighbours,
            next_sequence,
        })
    }

    /// Current accepted interventions of these beneficiaries (any SAAD) or
    /// of these workers of `saad` in `window`, by acceptance sequence.
    fn neighbours_in(
        &self,
        saad: &str,
        beneficiaries: &BTreeSet<&str>,
        workers: &BTreeSet<&str>,
        window: &NeighbourWindow,
    ) -> Vec<AcceptedIntervention> {
        let keys = beneficiaries
            .iter()
            .filter_map(|b| self.neighbours_of_beneficiary.get(*b))
            .chain(
                workers
                    .iter()
                    .filter_map(|w| by_saad(&self.neighbours_of_worker, saad, w)),
            )
            .flatten();
        let mut found: BTreeMap<&(String, String), &AcceptedIntervention> = BTreeMap::new();
        for key in keys {
            if let Some(n) = self.neighbours.get(key)
                && window.admits(n.period.start, n.period.end)
            {
                found.insert(key, n);
            }
        }
        let mut neighbours: Vec<AcceptedIntervention> = found.into_values().cloned().collect();
        neighbours.sort_by_key(|n| n.sequence);
        neighbours
    }

    // ----- after a delivery is judged -----

    /// Applies what writing `result`, judged for a delivery of `saad`,
    /// changes in what the pool read (as `storage::rows::commit_rows` turns
    /// it into rows): new raw sides, the final current version of each line
    /// (a line withdrawn then accepted again in one delivery ends accepted;
    /// accepted then withdrawn is only in `withdrawn`), new aliases.
    pub fn apply(&mut self, saad: &str, result: &IngestResult) {
        for (line_id, stamp) in &result.new_raw {
            self.add_raw(saad, line_id, stamp.clone());
        }
        for line_id in &result.withdrawn {
            if let Some(lines) = self.current.get_mut(saad) {
                lines.remove(line_id);
            }
            self.remove_neighbour(saad, line_id);
        }
        // By line id, as `commit_rows` reads them (one look-up per line: a
        // search of the list per line made a 1 000-line delivery quadratic).
        let fingerprints: HashMap<&str, &str> = result
            .fingerprints
            .iter()
            .map(|(line_id, fingerprint)| (line_id.as_str(), fingerprint.as_str()))
            .collect();
        for accepted in &result.accepted {
            let fingerprint = fingerprints
                .get(accepted.line_id.as_str())
                .map(|f| (*f).to_owned());
            self.add_current(accepted.clone(), fingerprint);
            self.add_neighbour(accepted.clone());
        }
        for alias in &result.new_aliases {
            self.add_named_alias(saad, alias.clone());
            self.add_plan_alias(saad, alias.clone());
        }
    }
}
