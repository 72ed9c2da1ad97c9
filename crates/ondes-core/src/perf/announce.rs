//! Which problems are new since the last report, so that a log says each one once.
//!
//! A problem is an alert (operation + rule) or an operation at level BOTTLENECK. It is
//! announced when it first appears; while it stays, it is not repeated; once it has gone
//! from a report, it is forgotten, and announced again if it comes back.

use std::collections::HashSet;

use super::alerts::Alert;
use super::level::Level;
use super::report::{Bottleneck, PerfReport};

/// A problem seen for the first time.
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    Bottleneck(Bottleneck),
    Alert(Alert),
}

/// Remembers the problems already announced.
#[derive(Debug, Default, Clone)]
pub struct Announcer {
    active: HashSet<(String, &'static str)>,
}

impl Announcer {
    /// The problems in `report` that were not in the previous one given.
    pub fn update(&mut self, report: &PerfReport) -> Vec<Announcement> {
        let mut now: HashSet<(String, &'static str)> = HashSet::new();
        let mut out = Vec::new();
        for b in report.bottlenecks.iter().filter(|b| b.level == Level::Bottleneck) {
            let key = (b.op.clone(), "bottleneck");
            if !self.active.contains(&key) {
                out.push(Announcement::Bottleneck(b.clone()));
            }
            now.insert(key);
        }
        for a in &report.alerts {
            let key = (a.op.clone(), a.kind.rule());
            if !self.active.contains(&key) && !now.contains(&key) {
                out.push(Announcement::Alert(a.clone()));
            }
            now.insert(key);
        }
        self.active = now;
        out
    }
}
