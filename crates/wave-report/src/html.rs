//! The wave report as one self-contained HTML file: inline CSS, no scripts, no fonts or images
//! from elsewhere, so it renders offline and in a mail or ticket attachment. Each figure sits in
//! an element with `data-figure` (and `data-vm`, `data-disk`) so tests and tools can read it.

use std::fmt::Write;

use serde_json::{Map, Value};

use crate::wave::{Vm, Wave, clock, gib, seconds};
use crate::{STEPS, step_label, what_to_fix};

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "—".into()
    } else {
        esc(text)
    }
}

fn opt(value: Option<f64>) -> String {
    value.map_or("—".into(), seconds)
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e8;padding-bottom:4px}
.meta{color:#5b6475;font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #dde1e8;border-radius:6px;padding:10px 14px;min-width:110px}
.card b{display:block;font-size:20px}.card span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border-bottom:1px solid #e6e9ef;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17692f;font-weight:600}.bad{color:#a4161a;font-weight:600}
.fail{border:1px solid #f1b5b7;background:#fff5f5;border-radius:6px;padding:8px 12px;margin:8px 0}
.fail h3{margin:0 0 6px;font-size:15px}.fail p{margin:4px 0;font-size:13px}
code{background:#f4f6f9;padding:1px 4px;border-radius:3px}
.tl{margin:6px 0 14px}.tl .row{display:flex;align-items:center;height:18px;margin:2px 0}
.tl .name{width:150px;font-size:12px;color:#5b6475;overflow:hidden;white-space:nowrap}
.tl .lane{position:relative;flex:1;height:14px;background:#f4f6f9;border-radius:3px}
.tl .bar{position:absolute;top:0;height:14px;border-radius:3px;min-width:2px}
.tl .open{background-image:repeating-linear-gradient(45deg,rgba(255,255,255,.6) 0 4px,transparent 4px 8px)}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
.s-power_off{background:#c0392b}.s-snapshot{background:#8e44ad}.s-volume{background:#2980b9}
.s-copy{background:#27ae60}.s-snapshot_removal{background:#7f8c8d}.s-conversion{background:#d35400}
.s-finalize{background:#16a085}.s-server{background:#2c3e50}.s-other{background:#95a5a6}
"#;

fn step_class(step: &str) -> String {
    if STEPS.iter().any(|(k, _)| *k == step) {
        format!("s-{step}")
    } else {
        "s-other".into()
    }
}

pub fn html(wave: &Wave, generated: f64) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Migration wave report</title><style>{STYLE}</style></head><body>\n\
         <h1>Migration wave report</h1><div class=\"meta\">Generated {}</div>\n",
        esc(&clock(generated))
    );
    let card = |out: &mut String, figure: &str, value: String, label: &str| {
        let _ = write!(
            out,
            "<div class=\"card\"><b data-figure=\"{figure}\">{value}</b><span>{label}</span></div>"
        );
    };
    out.push_str("<div class=\"cards\">");
    card(&mut out, "vms", wave.vms.len().to_string(), "VMs");
    card(
        &mut out,
        "succeeded",
        (wave.vms.len() - wave.failed()).to_string(),
        "succeeded",
    );
    card(&mut out, "failed", wave.failed().to_string(), "failed");
    card(&mut out, "copied", gib(wave.bytes_copied()), "copied");
    card(
        &mut out,
        "longest-downtime",
        opt(wave.longest_downtime()),
        "longest downtime",
    );
    out.push_str("</div>\n");

    out.push_str(
        "<h2>VMs</h2><table><thead><tr><th>VM</th><th>Status</th><th>Mode</th>\
         <th>Conversion host</th><th>Downtime</th><th>Copied</th><th>Duration</th><th>Flavor</th>\
         <th>Server</th></tr></thead><tbody>\n",
    );
    for vm in &wave.vms {
        let v = esc(&vm.name);
        let class = if vm.failed { "bad" } else { "ok" };
        let _ = writeln!(
            out,
            "<tr><td data-figure=\"vm\" data-vm=\"{v}\">{v}</td>\
             <td class=\"{class}\" data-figure=\"status\" data-vm=\"{v}\">{}</td>\
             <td>{}</td><td>{}</td>\
             <td class=\"num\" data-figure=\"downtime\" data-vm=\"{v}\">{}</td>\
             <td class=\"num\" data-figure=\"copied\" data-vm=\"{v}\">{}</td>\
             <td class=\"num\" data-figure=\"duration\" data-vm=\"{v}\">{}</td>\
             <td data-figure=\"flavor\" data-vm=\"{v}\">{}</td>\
             <td data-figure=\"server\" data-vm=\"{v}\">{}</td></tr>",
            or_dash(&vm.status),
            or_dash(&vm.mode),
            or_dash(&vm.conversion_host),
            opt(vm.downtime),
            gib(vm.bytes_copied),
            opt(vm.seconds),
            or_dash(&vm.flavor),
            or_dash(format!("{} {}", vm.server_id, vm.server_status).trim()),
        );
    }
    out.push_str("</tbody></table>\n");

    let failed: Vec<&Vm> = wave.vms.iter().filter(|v| v.failed).collect();
    if !failed.is_empty() {
        out.push_str("<h2>Failures</h2>\n");
        for vm in failed {
            let v = esc(&vm.name);
            let _ = write!(out, "<div class=\"fail\" data-vm=\"{v}\"><h3>{v}</h3>");
            if !vm.failed_task.is_empty() {
                let _ = write!(out, "<p>Failed at: {}</p>", esc(&vm.failed_task));
            }
            let _ = write!(
                out,
                "<p>Error: <span data-figure=\"error\" data-vm=\"{v}\">{}</span></p>\
                 <p>What to fix: {}</p>",
                or_dash(&vm.msg),
                esc(&what_to_fix(vm))
            );
            if !vm.log.is_empty() {
                let _ = write!(out, "<p>Log: <code>{}</code></p>", esc(&vm.log));
            }
            out.push_str("</div>\n");
        }
    }

    timeline(&mut out, wave);

    out.push_str(
        "<h2>Disks</h2><table><thead><tr><th>VM</th><th>Disk</th><th>Mode</th><th>Volume</th>\
         <th>Copied</th><th>Took</th><th>MiB/s</th></tr></thead><tbody>\n",
    );
    for vm in &wave.vms {
        let v = esc(&vm.name);
        for d in &vm.disks {
            let k = esc(&d.key);
            let _ = writeln!(
                out,
                "<tr><td>{v}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"num\" data-figure=\"disk-copied\" data-vm=\"{v}\" data-disk=\"{k}\">{}</td>\
                 <td class=\"num\" data-figure=\"disk-seconds\" data-vm=\"{v}\" data-disk=\"{k}\">{}</td>\
                 <td class=\"num\" data-figure=\"disk-mib-per-s\" data-vm=\"{v}\" data-disk=\"{k}\">{:.1}</td></tr>",
                esc(format!("{} {}", d.key, d.label).trim()),
                or_dash(&d.mode),
                or_dash(&d.volume_id),
                gib(d.bytes_copied),
                seconds(d.seconds),
                d.mib_per_s
            );
        }
    }
    out.push_str("</tbody></table>\n");

    for vm in wave.vms.iter().filter(|v| !v.rounds.is_empty()) {
        let columns = round_columns(&vm.rounds);
        let _ = write!(
            out,
            "<h2>Sync rounds of {}</h2><table><thead><tr><th>#</th>",
            esc(&vm.name)
        );
        for c in &columns {
            let _ = write!(out, "<th>{}</th>", esc(c));
        }
        out.push_str("</tr></thead><tbody>\n");
        for (i, round) in vm.rounds.iter().enumerate() {
            let _ = write!(out, "<tr><td>{}</td>", i + 1);
            for c in &columns {
                let _ = write!(out, "<td>{}</td>", or_dash(&round_value(c, round.get(c))));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn timeline(out: &mut String, wave: &Wave) {
    let Some((min, max)) = wave.span() else {
        return;
    };
    if wave.vms.iter().all(|v| v.timeline.is_empty()) {
        return;
    }
    let width = (max - min).max(1.0);
    let _ = write!(
        out,
        "<h2>Timeline</h2><div class=\"meta\">{} to {} ({})</div><div class=\"legend\">",
        esc(&clock(min)),
        esc(&clock(max)),
        seconds(max - min)
    );
    for (key, label) in STEPS {
        let _ = write!(out, "<span><i class=\"s-{key}\"></i>{label}</span>");
    }
    out.push_str("</div>\n");
    for vm in wave.vms.iter().filter(|v| !v.timeline.is_empty()) {
        let mut lanes: Vec<Option<i64>> = vec![None];
        for s in &vm.timeline {
            if s.disk.is_some() && !lanes.contains(&s.disk) {
                lanes.push(s.disk);
            }
        }
        let _ = write!(out, "<div class=\"tl\" data-vm=\"{}\">", esc(&vm.name));
        for lane in lanes {
            let name = match lane {
                None => vm.name.clone(),
                Some(d) => format!("  disk {d}"),
            };
            let _ = write!(
                out,
                "<div class=\"row\"><div class=\"name\">{}</div><div class=\"lane\">",
                esc(&name)
            );
            for s in vm.timeline.iter().filter(|s| s.disk == lane) {
                let end = s.end.unwrap_or(max);
                let left = (s.start - min) / width * 100.0;
                let w = ((end - s.start) / width * 100.0).max(0.0);
                let open = if s.end.is_none() { " open" } else { "" };
                let took = s.end.map_or("did not end".into(), |e| seconds(e - s.start));
                let _ = write!(
                    out,
                    "<div class=\"bar {}{open}\" style=\"left:{left:.3}%;width:{w:.3}%\" \
                     title=\"{}: {}\"></div>",
                    step_class(&s.step),
                    esc(step_label(&s.step)),
                    esc(&took)
                );
            }
            out.push_str("</div></div>");
        }
        out.push_str("</div>\n");
    }
}

/// The columns of a rounds table: every key any round has, in order.
pub(crate) fn round_columns(rounds: &[Map<String, Value>]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for round in rounds {
        for key in round.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    columns.sort();
    columns
}

/// A round's value as shown; byte counts in GiB, like the rest of the report.
pub(crate) fn round_value(column: &str, value: Option<&Value>) -> String {
    if column.starts_with("bytes")
        && let Some(bytes) = value.and_then(Value::as_u64)
    {
        return gib(bytes);
    }
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_fetched_and_text_is_escaped() {
        let wave = Wave::parse(
            r#"[{"vm": "<b>x</b>", "status": "failed", "msg": "a \"quoted\" & <tag>",
                 "timeline": [{"step": "power_off", "started": 1767225600, "ended": 1767225610},
                              {"step": "copy", "disk": 2000, "started": 1767225612, "ended": null}]}]"#,
        )
        .unwrap();
        let page = html(&wave, 1767225700.0);
        for forbidden in [
            "<script", "http://", "https://", "@import", "url(", "<link", "<img",
        ] {
            assert!(!page.contains(forbidden), "{forbidden} in the page");
        }
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!page.contains("<b>x</b>"));
        assert!(page.contains("a &quot;quoted&quot; &amp; &lt;tag&gt;"));
        assert!(page.contains("class=\"bar s-power_off\" style=\"left:0.000%;width:83.333%\""));
        assert!(page.contains("class=\"bar s-copy open\""), "{page}");
    }

    #[test]
    fn figures_carry_their_vm() {
        let wave = Wave::parse(
            r#"[{"vm": "w", "status": "migrated", "flavor": "m1.small", "server_id": "s", "server_status": "ACTIVE",
                 "disks": [{"key": 2000, "bytes_copied": 2147483648, "seconds": 4.0, "mib_per_s": 512.0}]}]"#,
        )
        .unwrap();
        let page = html(&wave, 0.0);
        assert!(page.contains("data-figure=\"copied\" data-vm=\"w\">2.00 GiB<"));
        assert!(page.contains("data-figure=\"flavor\" data-vm=\"w\">m1.small<"));
        assert!(page.contains("data-figure=\"server\" data-vm=\"w\">s ACTIVE<"));
        assert!(page.contains("data-disk=\"2000\">512.0<"));
        assert!(page.contains("data-figure=\"failed\">0<"));
    }
}
