//! Which queues a fetch looks at, in which order (docs/wire-format.md §3): strict order when no queue
//! has a weight, otherwise a weighted shuffle recomputed on every fetch. Queues found in Redis
//! (`:dynamic:`, docs/design.md, §23) come after the configured ones, at the lowest priority.

use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct QueueList {
    /// Queue names, each repeated `max(weight, 1)` times, in configuration order.
    expanded: Vec<String>,
    /// Distinct names in configuration order, then the dynamic ones.
    names: Vec<String>,
    /// How many of `names` are configured; the rest are dynamic.
    configured: usize,
    strict: bool,
}

impl QueueList {
    /// `queues` as (name, weight) pairs; all weights 0 means strict priority order.
    pub fn new(queues: &[(String, u32)]) -> QueueList {
        let strict = queues.iter().all(|(_, weight)| *weight == 0);
        let mut expanded = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (name, weight) in queues {
            for _ in 0..(*weight).max(1) {
                expanded.push(name.clone());
            }
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        QueueList {
            expanded,
            configured: names.len(),
            names,
            strict,
        }
    }

    /// This list's configured queues followed by `dynamic` (names it does not already hold),
    /// which every fetch looks at last: in the given order when strict, shuffled among
    /// themselves otherwise.
    pub fn with_dynamic(&self, dynamic: &[String]) -> QueueList {
        let mut names = self.names[..self.configured].to_vec();
        for name in dynamic {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        QueueList {
            names,
            ..self.clone()
        }
    }

    /// The queues found in Redis that this list holds besides its configured ones.
    pub fn dynamic(&self) -> &[String] {
        &self.names[self.configured..]
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The order for one fetch: configuration order when strict; otherwise the expanded list
    /// shuffled with duplicates dropped, so queue i comes first with probability w_i / Σw.
    /// Dynamic queues follow: as listed when strict, shuffled otherwise.
    pub fn fetch_order(&self, rng: &mut Rng) -> Vec<&str> {
        if self.strict {
            return self.names.iter().map(String::as_str).collect();
        }
        let mut shuffled: Vec<&str> = self.expanded.iter().map(String::as_str).collect();
        for i in (1..shuffled.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            shuffled.swap(i, j);
        }
        let mut order: Vec<&str> = Vec::with_capacity(self.names.len());
        for name in shuffled {
            if !order.contains(&name) {
                order.push(name);
            }
        }
        let dynamic_from = order.len();
        order.extend(self.dynamic().iter().map(String::as_str));
        for i in (dynamic_from + 1..order.len()).rev() {
            let j = dynamic_from + rng.below((i - dynamic_from) as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(spec: &[(&str, u32)]) -> QueueList {
        QueueList::new(
            &spec
                .iter()
                .map(|(n, w)| (n.to_string(), *w))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn unweighted_is_strict_in_configuration_order() {
        let queues = list(&[("critical", 0), ("default", 0), ("low", 0)]);
        assert!(queues.is_strict());
        let mut rng = Rng::seeded(1);
        assert_eq!(
            queues.fetch_order(&mut rng),
            vec!["critical", "default", "low"]
        );
    }

    #[test]
    fn weights_decide_how_often_a_queue_comes_first() {
        let queues = list(&[("critical", 3), ("default", 1)]);
        assert!(!queues.is_strict());
        let mut rng = Rng::seeded(42);
        let trials = 20_000;
        let critical_first = (0..trials)
            .filter(|_| queues.fetch_order(&mut rng)[0] == "critical")
            .count();
        let share = critical_first as f64 / trials as f64;
        assert!((share - 0.75).abs() < 0.02, "{share}");
        assert_eq!(queues.fetch_order(&mut rng).len(), 2);
    }

    #[test]
    fn dynamic_queues_come_after_the_configured_ones() {
        let dynamic = [
            "alpha".to_string(),
            "default".to_string(),
            "zeta".to_string(),
        ];
        let strict = list(&[("critical", 0), ("default", 0)]).with_dynamic(&dynamic);
        let mut rng = Rng::seeded(7);
        assert_eq!(
            strict.fetch_order(&mut rng),
            vec!["critical", "default", "alpha", "zeta"]
        );
        assert_eq!(strict.dynamic(), ["alpha", "zeta"]);
        let weighted = list(&[("critical", 3), ("default", 1)]).with_dynamic(&dynamic);
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let order = weighted.fetch_order(&mut rng);
            assert_eq!(order.len(), 4);
            assert!(order[..2].contains(&"critical") && order[..2].contains(&"default"));
            firsts.insert(order[2]);
        }
        assert_eq!(
            firsts.len(),
            2,
            "dynamic queues are shuffled among themselves"
        );
        assert_eq!(weighted.with_dynamic(&[]).names(), ["critical", "default"]);
    }
}
