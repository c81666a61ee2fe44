//! Bar charts as SVG drawn on the server: no script, no external library,
//! readable by a screen reader through its title and the table beside it.

use std::fmt::Write;

/// One bar group: its label and a value per series.
pub struct Group {
    pub label: String,
    pub values: Vec<i64>,
}

/// Series names and their CSS classes (colours live in app.css).
pub struct Series<'a> {
    pub names: &'a [&'a str],
    pub classes: &'a [&'a str],
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;

/// A grouped bar chart; `label_every` thins the x labels.
pub fn bars(title: &str, series: &Series, groups: &[Group], label_every: usize) -> String {
    let max = groups
        .iter()
        .flat_map(|g| g.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - 4.0;
    let plot_h = HEIGHT - BOTTOM - 8.0;
    let slot = plot_w / groups.len().max(1) as f64;
    let bar = (slot * 0.8 / series.names.len().max(1) as f64).max(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    // The scale: 0 and the maximum.
    let _ = write!(
        s,
        r#"<text class="axis" x="{}" y="{}" text-anchor="end">{max}</text><text class="axis" x="{}" y="{}" text-anchor="end">0</text><line class="axis" x1="{LEFT}" y1="{}" x2="{WIDTH}" y2="{}"/>"#,
        LEFT - 4.0,
        8.0 + 10.0,
        LEFT - 4.0,
        8.0 + plot_h,
        8.0 + plot_h,
        8.0 + plot_h
    );
    for (i, g) in groups.iter().enumerate() {
        let x0 = LEFT + i as f64 * slot + slot * 0.1;
        for (k, v) in g.values.iter().enumerate() {
            let h = plot_h * (*v as f64) / max as f64;
            let _ = write!(
                s,
                r#"<rect class="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: {} {v}</title></rect>"#,
                series.classes.get(k).copied().unwrap_or("s0"),
                x0 + k as f64 * bar,
                8.0 + plot_h - h,
                bar,
                h,
                escape(&g.label),
                series.names.get(k).copied().unwrap_or("")
            );
        }
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                s,
                r#"<text class="axis" x="{:.1}" y="{}">{}</text>"#,
                x0,
                HEIGHT - 6.0,
                escape(&g.label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_bar_per_value_and_escapes_labels() {
        let series = Series {
            names: &["accepted", "delivered"],
            classes: &["s0", "s1"],
        };
        let groups = vec![
            Group {
                label: "<1>".into(),
                values: vec![3, 2],
            },
            Group {
                label: "2".into(),
                values: vec![0, 0],
            },
        ];
        let svg = bars("Last <2> days", &series, &groups, 1);
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("&lt;1&gt;") && !svg.contains("<1>"));
        assert!(svg.contains(r#"aria-label="Last &lt;2&gt; days""#));
    }
}
