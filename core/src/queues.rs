//! Which queues a fetch looks at, in which order (docs/wire-format.md §3): strict order when no queue
//! has a weight, otherwise a weighted shuffle recomputed on every fetch.

use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct QueueList {
    /// Queue names, each repeated `max(weight, 1)` times, in configuration order.
    expanded: Vec<String>,
    /// Distinct names in configuration order.
    names: Vec<String>,
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
            names,
            strict,
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The order for one fetch: configuration order when strict; otherwise the expanded list
    /// shuffled with duplicates dropped, so queue i comes first with probability w_i / Σw.
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
}
