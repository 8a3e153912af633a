//! Indexes built once per delivery, so that judging a line costs what its
//! own beneficiary, plan and worker need, not the size of the delivery.
//! Every lookup answers with sets or `any`, so that results never depend on
//! the order of the inputs (R6).

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::ingest::{AcceptedIntervention, BeneficiaryAlias};
use crate::domain::model::{Event, PlanVersion};
use crate::domain::time::Period;
use crate::domain::types::WorkerId;

/// Plan versions by plan reference and plan references by beneficiary.
#[derive(Debug, Default)]
pub(super) struct PlanIndex<'a> {
    pub(super) by_ref: BTreeMap<&'a str, Vec<&'a PlanVersion>>,
    pub(super) refs_by_beneficiary: BTreeMap<&'a str, BTreeSet<&'a str>>,
}

impl<'a> PlanIndex<'a> {
    pub(super) fn new(plans: &'a [PlanVersion]) -> Self {
        let mut index = Self::default();
        for version in plans {
            index
                .by_ref
                .entry(version.plan_ref.as_str())
                .or_default()
                .push(version);
            index
                .refs_by_beneficiary
                .entry(version.beneficiary_id.as_str())
                .or_default()
                .insert(version.plan_ref.as_str());
        }
        index
    }

    /// Every version of a plan (empty when unknown).
    pub(super) fn versions(&self, plan_ref: &str) -> &[&'a PlanVersion] {
        self.by_ref
            .get(plan_ref)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// Events by beneficiary.
#[derive(Debug, Default)]
pub(super) struct EventIndex<'a> {
    by_beneficiary: BTreeMap<&'a str, Vec<&'a Event>>,
}

impl<'a> EventIndex<'a> {
    pub(super) fn new(events: &'a [Event]) -> Self {
        let mut index = Self::default();
        for event in events {
            index
                .by_beneficiary
                .entry(event.beneficiary_id.as_str())
                .or_default()
                .push(event);
        }
        index
    }

    /// The events of one beneficiary.
    pub(super) fn of(&self, beneficiary_id: &str) -> impl Iterator<Item = &'a Event> + '_ {
        self.by_beneficiary
            .get(beneficiary_id)
            .into_iter()
            .flatten()
            .copied()
    }
}

/// This SAAD's aliases, both ways.
#[derive(Debug, Default)]
pub(super) struct Aliases {
    by_beneficiary: BTreeMap<String, BTreeSet<String>>,
    by_alias: BTreeMap<String, BTreeSet<String>>,
}

impl Aliases {
    pub(super) fn new(aliases: &[BeneficiaryAlias]) -> Self {
        let mut index = Self::default();
        for alias in aliases {
            index.insert(alias);
        }
        index
    }

    /// Records an alias; `false` when it was already known.
    pub(super) fn insert(&mut self, alias: &BeneficiaryAlias) -> bool {
        self.by_alias
            .entry(alias.alias_id.clone())
            .or_default()
            .insert(alias.beneficiary_id.clone());
        self.by_beneficiary
            .entry(alias.beneficiary_id.clone())
            .or_default()
            .insert(alias.alias_id.clone())
    }

    /// Whether this SAAD has recorded any alias for the beneficiary.
    pub(super) fn has_any(&self, beneficiary_id: &str) -> bool {
        self.by_beneficiary
            .get(beneficiary_id)
            .is_some_and(|set| !set.is_empty())
    }

    /// Whether `announced` designates `beneficiary_id`: the financer's own
    /// id, or a recorded alias of it.
    pub(super) fn designates(&self, beneficiary_id: &str, announced: &str) -> bool {
        announced == beneficiary_id
            || self
                .by_beneficiary
                .get(beneficiary_id)
                .is_some_and(|set| set.contains(announced))
    }

    /// The financer's ids `announced` may designate (itself, and what it is
    /// an alias of).
    pub(super) fn candidates<'s>(&'s self, announced: &'s str) -> BTreeSet<&'s str> {
        let mut ids: BTreeSet<&str> = self
            .by_alias
            .get(announced)
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        ids.insert(announced);
        ids
    }
}

/// Identity of an accepted intervention: (SAAD SIRET, line id).
type Key = (String, String);

/// Accepted interventions a line may overlap (R6), by beneficiary and by
/// (SAAD, worker).
#[derive(Debug, Default)]
pub(super) struct Pool {
    by_beneficiary: BTreeMap<String, Vec<AcceptedIntervention>>,
    by_worker: BTreeMap<(String, WorkerId), Vec<AcceptedIntervention>>,
    located: BTreeMap<Key, Vec<(String, Option<WorkerId>)>>,
}

impl Pool {
    pub(super) fn contains(&self, saad: &str, line_id: &str) -> bool {
        self.located
            .contains_key(&(saad.to_owned(), line_id.to_owned()))
    }

    pub(super) fn insert(&mut self, accepted: AcceptedIntervention) {
        let key = (accepted.saad_siret.clone(), accepted.line_id.clone());
        self.located
            .entry(key)
            .or_default()
            .push((accepted.beneficiary_id.clone(), accepted.worker_id.clone()));
        if let Some(worker) = &accepted.worker_id {
            self.by_worker
                .entry((accepted.saad_siret.clone(), worker.clone()))
                .or_default()
                .push(accepted.clone());
        }
        self.by_beneficiary
            .entry(accepted.beneficiary_id.clone())
            .or_default()
            .push(accepted);
    }

    /// Removes every accepted version of (SAAD, line id).
    pub(super) fn remove(&mut self, saad: &str, line_id: &str) {
        let key = (saad.to_owned(), line_id.to_owned());
        let Some(places) = self.located.remove(&key) else {
            return;
        };
        let is_it = |a: &AcceptedIntervention| a.saad_siret == saad && a.line_id == line_id;
        for (beneficiary, worker) in places {
            if let Some(list) = self.by_beneficiary.get_mut(&beneficiary) {
                list.retain(|a| !is_it(a));
            }
            if let Some(worker) = worker {
                if let Some(list) = self.by_worker.get_mut(&(saad.to_owned(), worker)) {
                    list.retain(|a| !is_it(a));
                }
            }
        }
    }

    /// An accepted intervention of `beneficiary_id` overlapping `period`,
    /// other than (saad, line id) itself.
    pub(super) fn beneficiary_busy(
        &self,
        beneficiary_id: &str,
        period: &Period,
        saad: &str,
        line_id: &str,
    ) -> bool {
        self.by_beneficiary.get(beneficiary_id).is_some_and(|list| {
            list.iter().any(|a| {
                !(a.saad_siret == saad && a.line_id == line_id) && a.period.overlaps(period)
            })
        })
    }

    /// The worker of this SAAD accepted at another beneficiary during
    /// `period`, other than (saad, line id) itself.
    pub(super) fn worker_busy(
        &self,
        saad: &str,
        worker: &WorkerId,
        beneficiary_id: &str,
        period: &Period,
        line_id: &str,
    ) -> bool {
        self.by_worker
            .get(&(saad.to_owned(), worker.clone()))
            .is_some_and(|list| {
                list.iter().any(|a| {
                    a.line_id != line_id
                        && a.beneficiary_id != beneficiary_id
                        && a.period.overlaps(period)
                })
            })
    }
}
