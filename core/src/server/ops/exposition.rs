//! Prometheus' text exposition format (0.0.4), written by hand: a few families of counters,
//! gauges and histograms need no client library, and the names and types must be exactly
//! those dashboards know (docs/design.md, §21.1).

use std::fmt::Write;

use crate::server::execution_tally::{Durations, Lifetime, BUCKET_LIMITS_MS};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// This process's own numbers.
#[derive(Debug, Clone, Default)]
pub struct ProcessGauges {
    pub busy: usize,
    pub concurrency: usize,
    pub rss_bytes: u64,
    /// The heartbeat's last PING, when one succeeded.
    pub redis_rtt_seconds: Option<f64>,
    /// Fetched jobs waiting for a worker thread.
    pub prefetched: usize,
    /// The most jobs one fetch takes now (the prefetch limit).
    pub fetch_batch_limit: usize,
}

/// Numbers about the whole Sidekiq installation, computed by one process at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterGauges {
    /// `(queue, size, latency in seconds)`, by queue name.
    pub queues: Vec<(String, u64, f64)>,
    pub retry: u64,
    pub scheduled: u64,
    pub dead: u64,
    pub processes: u64,
    pub busy: u64,
    pub processed: u64,
    pub failed: u64,
    /// When it was computed (epoch seconds).
    pub computed_at: f64,
}

/// An exposition being written: families one after the other, each announced once.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// One histogram series (its buckets, `_sum` and `_count`) from Sidekiq's millisecond
    /// buckets: a bucket holds whole milliseconds below its bound, so `le` is the bound.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], durations: &Durations) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (limit, count) in BUCKET_LIMITS_MS.iter().zip(durations.buckets.iter()) {
            cumulative += count;
            let le = number(*limit as f64 / 1000.0);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, durations.count as f64);
        self.sample(
            &format!("{name}_sum"),
            labels,
            durations.total_ms as f64 / 1000.0,
        );
        self.sample(&format!("{name}_count"), labels, durations.count as f64);
    }

    pub fn finish(self) -> String {
        self.text
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Integers without a fraction, the rest as Rust prints floats (both valid Go floats).
fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// The per-job families: counters and the duration histogram, by job class and queue, with
/// prometheus_exporter's label names (`job_name`, `queue`).
pub fn write_jobs(out: &mut Exposition, lifetime: &Lifetime) {
    let mut pairs: Vec<_> = lifetime.jobs.pairs().collect();
    pairs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out.family(
        "sidekiq_jobs_total",
        "counter",
        "Jobs this process ran (succeeded or failed), by job class and queue.",
    );
    for (class, queue, outcomes) in &pairs {
        let total = outcomes.succeeded.count + outcomes.failed.count;
        out.sample(
            "sidekiq_jobs_total",
            &[("job_name", class), ("queue", queue)],
            total as f64,
        );
    }
    out.family(
        "sidekiq_failed_jobs_total",
        "counter",
        "Jobs this process ran that failed, by job class and queue.",
    );
    for (class, queue, outcomes) in &pairs {
        out.sample(
            "sidekiq_failed_jobs_total",
            &[("job_name", class), ("queue", queue)],
            outcomes.failed.count as f64,
        );
    }
    out.family(
        "sidekiq_job_failures_total",
        "counter",
        "Failed jobs by job class, queue and error class (rare error classes count as \"other\").",
    );
    for (class, queue, error, count) in lifetime.errors.series() {
        out.sample(
            "sidekiq_job_failures_total",
            &[
                ("job_name", class),
                ("queue", queue),
                ("error_class", error),
            ],
            count as f64,
        );
    }
    out.family(
        "sidekiq_job_duration_seconds",
        "histogram",
        "Time in server middleware and perform, by job class, queue and status (success or failure).",
    );
    for (class, queue, outcomes) in &pairs {
        for (status, durations) in [
            ("success", &outcomes.succeeded),
            ("failure", &outcomes.failed),
        ] {
            if durations.count > 0 {
                let labels = [("job_name", *class), ("queue", *queue), ("status", status)];
                out.histogram("sidekiq_job_duration_seconds", &labels, durations);
            }
        }
    }
    out.single(
        "ferrokiq_uncounted_jobs_total",
        "counter",
        "Jobs and failures left out of the per-class families because they hold the most series they keep.",
        (lifetime.jobs.dropped + lifetime.errors.dropped) as f64,
    );
}

pub fn write_process(out: &mut Exposition, process: &ProcessGauges) {
    out.single(
        "sidekiq_process_busy",
        "gauge",
        "Worker threads of this process running a job.",
        process.busy as f64,
    );
    out.single(
        "sidekiq_process_concurrency",
        "gauge",
        "Worker threads of this process.",
        process.concurrency as f64,
    );
    out.single(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size of this process in bytes.",
        process.rss_bytes as f64,
    );
    if let Some(rtt) = process.redis_rtt_seconds {
        out.single(
            "ferrokiq_redis_round_trip_seconds",
            "gauge",
            "Duration of the heartbeat's last Redis PING.",
            rtt,
        );
    }
    out.single(
        "ferrokiq_prefetched_jobs",
        "gauge",
        "Jobs fetched by this process and waiting for a worker thread.",
        process.prefetched as f64,
    );
    out.single(
        "ferrokiq_fetch_batch_limit",
        "gauge",
        "The most jobs this process takes in one fetch now (its prefetch limit).",
        process.fetch_batch_limit as f64,
    );
}

/// Cluster gauges with prometheus_exporter's names, and when they were computed.
pub fn write_cluster(out: &mut Exposition, cluster: &ClusterGauges) {
    out.family(
        "sidekiq_queue_backlog",
        "gauge",
        "Jobs waiting in each queue.",
    );
    for (queue, size, _) in &cluster.queues {
        out.sample("sidekiq_queue_backlog", &[("queue", queue)], *size as f64);
    }
    out.family(
        "sidekiq_queue_latency_seconds",
        "gauge",
        "Age of the oldest job waiting in each queue.",
    );
    for (queue, _, latency) in &cluster.queues {
        out.sample(
            "sidekiq_queue_latency_seconds",
            &[("queue", queue)],
            *latency,
        );
    }
    let enqueued: u64 = cluster.queues.iter().map(|(_, size, _)| size).sum();
    let stats = [
        (
            "sidekiq_stats_enqueued",
            "Jobs waiting in all queues.",
            enqueued,
        ),
        (
            "sidekiq_stats_retry_size",
            "Jobs in the retry set.",
            cluster.retry,
        ),
        (
            "sidekiq_stats_scheduled_size",
            "Jobs in the schedule set.",
            cluster.scheduled,
        ),
        (
            "sidekiq_stats_dead_size",
            "Jobs in the dead set.",
            cluster.dead,
        ),
        (
            "sidekiq_stats_processes_size",
            "Sidekiq processes alive.",
            cluster.processes,
        ),
        (
            "sidekiq_stats_workers_size",
            "Worker threads running a job, in all processes.",
            cluster.busy,
        ),
        (
            "sidekiq_stats_processed",
            "Jobs processed since the stats were reset (stat:processed).",
            cluster.processed,
        ),
        (
            "sidekiq_stats_failed",
            "Jobs failed since the stats were reset (stat:failed).",
            cluster.failed,
        ),
    ];
    for (name, help, value) in stats {
        out.single(name, "gauge", help, value as f64);
    }
    out.single(
        "ferrokiq_cluster_metrics_computed_timestamp_seconds",
        "gauge",
        "When the sidekiq_queue_* and sidekiq_stats_* gauges were computed (by one process for all).",
        cluster.computed_at,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::execution_tally::ExecutionTally;

    #[test]
    fn writes_counters_and_a_cumulative_histogram() {
        let tally = ExecutionTally::default();
        tally.keep_lifetime();
        tally.record("Hard\"Job", "default", 10, false);
        tally.record("Hard\"Job", "default", 25, false);
        tally.record_failure("Hard\"Job", "default", 3, "KeyError");
        let lifetime = tally.lifetime().expect("kept");
        let mut out = Exposition::default();
        write_jobs(&mut out, &lifetime);
        let text = out.finish();
        assert!(text.contains("sidekiq_jobs_total{job_name=\"Hard\\\"Job\",queue=\"default\"} 3\n"));
        assert!(text
            .contains("sidekiq_failed_jobs_total{job_name=\"Hard\\\"Job\",queue=\"default\"} 1\n"));
        assert!(text.contains(
            "sidekiq_job_failures_total{job_name=\"Hard\\\"Job\",queue=\"default\",error_class=\"KeyError\"} 1\n"
        ));
        let success = "job_name=\"Hard\\\"Job\",queue=\"default\",status=\"success\"";
        assert!(text.contains(&format!(
            "sidekiq_job_duration_seconds_bucket{{{success},le=\"0.02\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "sidekiq_job_duration_seconds_bucket{{{success},le=\"0.03\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "sidekiq_job_duration_seconds_bucket{{{success},le=\"+Inf\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "sidekiq_job_duration_seconds_sum{{{success}}} 0.035\n"
        )));
        assert!(text.contains(&format!(
            "sidekiq_job_duration_seconds_count{{{success}}} 2\n"
        )));
        assert_eq!(
            text.matches("# TYPE sidekiq_job_duration_seconds histogram")
                .count(),
            1
        );
    }

    #[test]
    fn numbers_are_plain() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.335), "0.335");
        assert_eq!(number(335.0), "335");
    }
}
