//! SVG plots of one run's results into benches/plots/: host ns/op vs live
//! keys (criterion's estimates of `host_ops`), bytes programmed per update
//! per store (embedded.json), the switch ratio vs used/live (switch.json),
//! and the latency CDF of single overwrites per store (latency.json).
//!
//!     cargo run --release -p twinkv-benches --features plots --bin plots
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde_json::Value;
use twinkv_benches::results_dir;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.ends_with("new/estimates.json") {
                out.push(p);
            }
        }
    }
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Markdown table of every `host/...` criterion median (ns per element).
fn host_table(files: &[PathBuf]) -> Res<()> {
    let mut rows: BTreeMap<(String, u64, u64, String), BTreeMap<String, f64>> = BTreeMap::new();
    let mut ops: Vec<String> = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(criterion_dir())?
            .to_string_lossy()
            .to_string();
        let parts: Vec<&str> = rel.split('/').collect();
        if parts.len() < 3 || !parts[0].starts_with("host_") {
            continue;
        }
        let mut mr = parts[0].trim_start_matches("host_").rsplitn(2, "_r");
        let region = mr.next().unwrap_or("").to_string();
        let medium = mr.next().unwrap_or("").to_string();
        let mut nv = parts[2].trim_start_matches('n').split("_v");
        let n: u64 = nv.next().unwrap_or("0").parse()?;
        let v: u64 = nv.next().unwrap_or("0").parse()?;
        let est: Value = serde_json::from_str(&std::fs::read_to_string(f)?)?;
        let mut ns = est["median"]["point_estimate"].as_f64().unwrap_or(0.0);
        if parts[1] == "set_many_100" {
            ns /= 100.0; // per pair
        }
        if !ops.contains(&parts[1].to_string()) {
            ops.push(parts[1].to_string());
        }
        rows.entry((medium, n, v, region))
            .or_default()
            .insert(parts[1].to_string(), ns);
    }
    let order = [
        "get_hit_random",
        "get_hit_hot",
        "get_miss",
        "set_overwrite",
        "set_new",
        "remove",
        "set_many_100",
    ];
    println!(
        "| medium | live keys | value B | region size B | {} |",
        order.join(" | ")
    );
    println!("|---|---:|---:|---:|{}", "---:|".repeat(order.len()));
    for ((m, n, v, r), cols) in rows {
        let cells: Vec<String> = order
            .iter()
            .map(|o| {
                cols.get(*o).map_or("–".into(), |x| {
                    if *x >= 1e4 {
                        format!("{:.1} µs", x / 1e3)
                    } else {
                        format!("{x:.0}")
                    }
                })
            })
            .collect();
        println!("| {m} | {n} | {v} | {r} | {} |", cells.join(" | "));
    }
    println!("(criterion medians, ns per operation; set_many_100 per pair)");
    Ok(())
}

/// `host/<medium>/r<size>/<op>/n<N>_v16` medians → one line per medium/op.
fn host_ns_per_op(out: &Path) -> Res<()> {
    let mut files = Vec::new();
    walk(&criterion_dir(), &mut files);
    host_table(&files)?;
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for f in files {
        let rel = f
            .strip_prefix(criterion_dir())?
            .to_string_lossy()
            .to_string();
        // e.g. host_ram_r164352/get_hit_random/n1000_v16/new/estimates.json
        let parts: Vec<&str> = rel.split('/').collect();
        if parts.len() < 3 || !parts[0].starts_with("host_") || !parts[2].ends_with("_v16") {
            continue;
        }
        let medium = parts[0]
            .trim_start_matches("host_")
            .split("_r")
            .next()
            .unwrap_or("");
        let op = parts[1];
        if !["get_hit_random", "set_overwrite", "set_new", "remove"].contains(&op) {
            continue;
        }
        let n: f64 = parts[2]
            .trim_start_matches('n')
            .split('_')
            .next()
            .unwrap_or("0")
            .parse()?;
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f)?)?;
        let ns = v["median"]["point_estimate"].as_f64().unwrap_or(0.0);
        series
            .entry(format!("{medium} {op}"))
            .or_default()
            .push((n, ns));
    }
    if series.is_empty() {
        eprintln!(
            "no criterion host_ops estimates under {}",
            criterion_dir().display()
        );
        return Ok(());
    }
    let p = out.join("host_ns_per_op.svg");
    let root = SVGBackend::new(&p, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let ymax = series.values().flatten().map(|x| x.1).fold(1.0, f64::max) * 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "twinkv host ops: ns/op (criterion median) vs live keys, 16 B values",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (500f64..2_000_000f64).log_scale(),
            (10f64..ymax).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("live keys")
        .y_desc("ns/op")
        .draw()?;
    for (i, (name, mut pts)) in series.into_iter().enumerate() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let c = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("{}", p.display());
    Ok(())
}

/// `results_dir()/name.json`, or `None` (said on stderr) when the run that
/// writes it has not run.
fn results(name: &str) -> Res<Option<Value>> {
    let f = results_dir().join(format!("{name}.json"));
    let Ok(text) = std::fs::read_to_string(&f) else {
        eprintln!("no {}", f.display());
        return Ok(None);
    };
    Ok(Some(serde_json::from_str(&text)?))
}

/// Bars: bytes programmed per update, per store and workload.
fn embedded_bytes(out: &Path) -> Res<()> {
    let Some(v) = results("embedded")? else {
        return Ok(());
    };
    let rows = v["updates"].as_array().cloned().unwrap_or_default();
    let bars: Vec<(String, f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["workload"].as_str().unwrap_or(""),
                    r["store"].as_str().unwrap_or("")
                ),
                r["programmed_per_update"].as_f64().unwrap_or(0.0),
                r["erases_per_1000"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    for (file, title, idx) in [
        (
            "embedded_bytes_per_update.svg",
            "bytes programmed per update (log scale)",
            1,
        ),
        (
            "embedded_erases_per_1000.svg",
            "erases per 1,000 updates (log scale)",
            2,
        ),
    ] {
        let p = out.join(file);
        let root = SVGBackend::new(&p, (1000, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let val = |b: &(String, f64, f64)| if idx == 1 { b.1 } else { b.2 };
        let ymax = bars.iter().map(val).fold(1.0, f64::max) * 2.0;
        let n = bars.len() as f64;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("flash simulator 16 × 4 KiB, W=4: {title}"),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(140)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n, (0.5f64..ymax).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len() * 2)
            .x_label_formatter(&|x| {
                let i = (*x - 0.5).round();
                if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .draw()?;
        chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            let c = COLORS[(i % 5) % COLORS.len()];
            Rectangle::new(
                [(i as f64 + 0.1, 0.5), (i as f64 + 0.9, val(b).max(0.5))],
                c.filled(),
            )
        }))?;
        root.present()?;
        println!("{}", p.display());
    }
    Ok(())
}

/// The headline: re-scan + switch / in-memory switch vs used/live, per live keys.
fn switch_ratio(out: &Path) -> Res<()> {
    let Some(v) = results("switch")? else {
        return Ok(());
    };
    let mut series: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for r in v["headline"].as_array().cloned().unwrap_or_default() {
        if r["medium"] != "ram" {
            continue;
        }
        series
            .entry(r["live_keys"].as_u64().unwrap_or(0))
            .or_default()
            .push((
                r["used_over_live"].as_f64().unwrap_or(0.0),
                r["ratio"].as_f64().unwrap_or(0.0),
            ));
    }
    let p = out.join("switch_ratio.svg");
    let root = SVGBackend::new(&p, (800, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "re-scan + switch ÷ in-memory switch (RamRegion), vs used/live",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(1f64..9f64, 0f64..10f64)?;
    chart
        .configure_mesh()
        .x_desc("used / live at the switch")
        .y_desc("ratio")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            (10..90).map(|x| (x as f64 / 10.0, 1.0 + x as f64 / 10.0)),
            BLACK.mix(0.4),
        ))?
        .label("bound 1 + used/live")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for (i, (live, mut pts)) in series.into_iter().enumerate() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let c = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(format!("{live} live keys"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("{}", p.display());
    Ok(())
}

/// The CDF of single-overwrite latencies per store and medium (latency.json):
/// x = latency (log), y = percentile on a "nines" scale (−log10(1 − p)), so
/// that the tail up to the longest `set` is visible.
fn latency_cdf(out: &Path) -> Res<()> {
    let Some(v) = results("latency")? else {
        return Ok(());
    };
    let rows = v["host_latency"].as_array().cloned().unwrap_or_default();
    // The max (p = 1) is drawn one step past the last quantile.
    let top = 6.5;
    let nines = |p: f64| if p >= 1.0 { top } else { -(1.0 - p).log10() };
    let series: Vec<(String, Vec<(f64, f64)>)> = rows
        .iter()
        .map(|r| {
            let name = format!(
                "{}, {} (max {:.2} ms)",
                r["store"].as_str().unwrap_or(""),
                r["medium"].as_str().unwrap_or(""),
                r["max"].as_f64().unwrap_or(0.0) / 1e6
            );
            let pts = r["cdf"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|pt| {
                    let ns = pt[0].as_f64()?.max(1.0);
                    Some((ns, nines(pt[1].as_f64()?)))
                })
                .collect();
            (name, pts)
        })
        .collect();
    let xmax = series
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.0))
        .fold(1e3, f64::max)
        * 2.0;
    let sets = rows.first().and_then(|r| r["sets"].as_u64()).unwrap_or(0);
    let p = out.join("latency_cdf.svg");
    let root = SVGBackend::new(&p, (1000, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("latency of single overwrites ({sets} sets per store): CDF, top = max"),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((10f64..xmax).log_scale(), 0f64..top + 0.2)?;
    chart
        .configure_mesh()
        .x_desc("latency of one set, ns (log)")
        .y_desc("percentile")
        .y_labels(8)
        .y_label_formatter(&|y| {
            if *y <= 0.0 {
                "p0".to_string()
            } else {
                let p = format!("{:.4}", 100.0 * (1.0 - 10f64.powf(-*y)));
                format!("p{}", p.trim_end_matches('0').trim_end_matches('.'))
            }
        })
        .x_label_formatter(&|x| match *x {
            x if x >= 1e9 => format!("{:.0} s", x / 1e9),
            x if x >= 1e6 => format!("{:.0} ms", x / 1e6),
            x if x >= 1e3 => format!("{:.0} µs", x / 1e3),
            x => format!("{x:.0} ns"),
        })
        .draw()?;
    for (i, (name, pts)) in series.into_iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let style = if i >= COLORS.len() {
            c.stroke_width(1)
        } else {
            c.stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(pts, style))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("{}", p.display());
    Ok(())
}

fn main() -> Res<()> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("plots");
    std::fs::create_dir_all(&out)?;
    host_ns_per_op(&out)?;
    embedded_bytes(&out)?;
    switch_ratio(&out)?;
    latency_cdf(&out)?;
    Ok(())
}
