//! `counters [--calls N]`: what the hot path's metrics cost per credential check, in process,
//! with the Prometheus recorder the server installs: a labelled counter looked up in the
//! registry at each call (`metrics::counter!` with its labels) against one resolved once and
//! kept (what `watchword_app::metrics` does), and no counter at all.

use std::hint::black_box;
use std::time::Instant;

fn per_call(calls: u64, mut f: impl FnMut(u64)) -> f64 {
    let started = Instant::now();
    for i in 0..calls {
        f(black_box(i));
    }
    started.elapsed().as_nanos() as f64 / calls as f64
}

pub fn run(calls: u64) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("recorder");
    let kinds = ["session", "api_key", "access_token"];
    let looked_up = per_call(calls, |i| {
        let cache = if i % 4 == 0 { "miss" } else { "hit" };
        metrics::counter!("watchword_credential_checks_total", "kind" => kinds[(i % 3) as usize], "cache" => cache)
            .increment(1);
    });
    let kept: Vec<metrics::Counter> = kinds
        .iter()
        .flat_map(|k| {
            ["hit", "miss"].map(|c| {
                metrics::counter!("watchword_credential_checks_total", "kind" => *k, "cache" => c)
            })
        })
        .collect();
    let resolved = per_call(calls, |i| {
        kept[((i % 3) * 2 + u64::from(i % 4 == 0)) as usize].increment(1);
    });
    let nothing = per_call(calls, |i| {
        black_box(i % 3);
    });
    let checks = handle
        .render()
        .matches("watchword_credential_checks_total{")
        .count();
    println!("metrics counter per credential check, {calls} calls each ({checks} series):");
    println!(
        "{:<44} {:>10.1} ns",
        "looked up each call (counter! with labels)", looked_up
    );
    println!("{:<44} {:>10.1} ns", "resolved once, kept", resolved);
    println!("{:<44} {:>10.1} ns", "no counter (the loop)", nothing);
    println!(
        "{:<44} {:>10.1}",
        "looked up / kept",
        looked_up / resolved.max(0.01)
    );
}
