//! Reading values out of `/metrics` text.

/// The value of the sample named exactly `series` (metric name and labels, as rendered), if
/// the text has it.
pub fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.trim().parse().expect("a numeric sample"))
    })
}
