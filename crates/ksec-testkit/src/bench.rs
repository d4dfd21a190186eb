//! Latency and throughput of concurrent callers, for the benchmarks (never for tests).
use std::future::Future;
use std::time::{Duration, Instant};

/// Median and 99th-percentile latency, and calls per second over the whole run.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Median latency.
    pub p50: Duration,
    /// 99th-percentile latency.
    pub p99: Duration,
    /// Completed calls per second of wall time.
    pub per_sec: f64,
}

/// Runs `op` `warmup` times, then `per_caller` times in each of `callers` concurrent
/// tokio tasks, and reports the latency distribution of all calls.
pub async fn measure<F, Fut>(callers: usize, per_caller: usize, warmup: usize, op: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    for _ in 0..warmup {
        op().await;
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_caller);
            for _ in 0..per_caller {
                let t = Instant::now();
                op().await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a benchmark task panicked"));
    }
    let wall = start.elapsed();
    all.sort();
    Stats {
        p50: all[all.len() / 2],
        p99: all[(all.len() * 99 / 100).min(all.len() - 1)],
        per_sec: all.len() as f64 / wall.as_secs_f64(),
    }
}
