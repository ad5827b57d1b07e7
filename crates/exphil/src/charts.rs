//! Terminal bar charts for distributions.

use std::collections::BTreeMap;

/// Width of the longest bar, in characters.
const BAR_WIDTH: usize = 40;

/// How chart rows are ordered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Largest count first.
    ByCount,
    /// Labels in descending order (for ranges such as quality bands).
    ByLabelDescending,
}

/// Renders `counts` as a titled bar chart, at most `limit` rows (the rest summed into one
/// "… N more" row).
pub fn bar_chart(
    title: &str,
    counts: &BTreeMap<String, usize>,
    limit: usize,
    order: Order,
) -> String {
    let mut rows: Vec<(&String, &usize)> = counts.iter().collect();
    match order {
        Order::ByCount => rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0))),
        Order::ByLabelDescending => rows.reverse(),
    }
    let max = rows.iter().map(|r| *r.1).max().unwrap_or(0);
    let mut out = format!("{title}\n");
    if rows.is_empty() {
        out.push_str("  (none)\n");
        return out;
    }
    let label_width = rows
        .iter()
        .take(limit)
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .min(32);
    for (label, &n) in rows.iter().take(limit) {
        let len = if max == 0 {
            0
        } else {
            (n * BAR_WIDTH).div_ceil(max)
        };
        let label: String = label.chars().take(32).collect();
        out.push_str(&format!(
            "  {label:<label_width$}  {} {n}\n",
            "█".repeat(len.max(1))
        ));
    }
    if rows.len() > limit {
        let rest: usize = rows[limit..].iter().map(|r| *r.1).sum();
        out.push_str(&format!("  … {} more ({rest})\n", rows.len() - limit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_fold_the_tail() {
        let counts: BTreeMap<String, usize> = [("a", 10), ("b", 5), ("c", 1)]
            .map(|(k, v)| (k.to_string(), v))
            .into();
        let chart = bar_chart("T", &counts, 2, Order::ByCount);
        let lines: Vec<&str> = chart.lines().collect();
        assert_eq!(lines[1].matches('█').count(), BAR_WIDTH);
        assert_eq!(lines[2].matches('█').count(), BAR_WIDTH / 2);
        assert!(lines[3].contains("1 more (1)"));
    }
}
