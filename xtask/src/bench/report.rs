//! Results: `bench/results/DATE.json` (machine + every section that ran)
//! and `docs/BENCHMARKS.md`, where each benchmark owns the text between
//! `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` (replaced on each run,
//! other sections kept).
use std::{fmt::Write as _, path::PathBuf};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::sys::run;

fn root() -> PathBuf {
    crate::build_ebpf::workspace_root()
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// The machine the numbers come from.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    json!({
        "hostname": first_line(&std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default()),
        "kernel": first_line(&std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default()),
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "mem_gib": (mem_kb as f64 / 1048576.0 * 10.0).round() / 10.0,
        "iptables": first_line(&run("iptables", &["-V"]).unwrap_or_default()),
        "git": first_line(&run("git", &["-C", &root().to_string_lossy(), "describe", "--always", "--dirty"]).unwrap_or_default()),
    })
}

pub fn with_machine(sections: Value) -> Value {
    let date = first_line(&run("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default());
    json!({ "date": date, "machine": machine(), "results": sections })
}

fn machine_line(results: &Value) -> String {
    let m = &results["machine"];
    format!(
        "Measured {} on `{}`: kernel {}, {} x {}, {} GiB, {} (git {}). Shared VM: the host runs other guests, so absolute numbers drift; ratios within one run are what to compare.",
        results["date"].as_str().unwrap_or(""),
        m["hostname"].as_str().unwrap_or(""),
        m["kernel"].as_str().unwrap_or(""),
        m["cores"],
        m["cpu"].as_str().unwrap_or(""),
        m["mem_gib"],
        m["iptables"].as_str().unwrap_or(""),
        m["git"].as_str().unwrap_or(""),
    )
}

/// Writes the JSON file and updates the markdown; returns both paths.
pub fn save(results: &Value) -> Result<(PathBuf, PathBuf)> {
    let dir = root().join("bench").join("results");
    std::fs::create_dir_all(&dir)?;
    let stamp = results["date"]
        .as_str()
        .unwrap_or("undated")
        .replace(':', "");
    let json_path = dir.join(format!("{stamp}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(results)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let md_path = render(results, &json_path)?;
    Ok((json_path, md_path))
}

/// `bench render FILE…`: rewrites the markdown sections from saved results.
pub fn render_files(files: &[PathBuf]) -> Result<()> {
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let results: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", f.display()))?;
        let md = render(&results, f)?;
        eprintln!("bench: {} -> {}", f.display(), md.display());
    }
    Ok(())
}

fn render(results: &Value, json_path: &std::path::Path) -> Result<PathBuf> {
    let md_path = root().join("docs").join("BENCHMARKS.md");
    std::fs::create_dir_all(md_path.parent().expect("docs/"))?;
    let mut md = std::fs::read_to_string(&md_path).unwrap_or_else(|_| HEADER.to_string());
    let file_name = json_path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    if let Some(sections) = results["results"].as_object() {
        for (name, section) in sections {
            let body = match name.as_str() {
                "drop" => drop_table(section),
                "memory" => memory_table(section),
                "bulk" => bulk_table(section),
                "latency" => latency_table(section),
                "regex" => regex_table(section),
                _ => format!("```json\n{}\n```\n", serde_json::to_string_pretty(section)?),
            };
            let text = format!(
                "{}\n\n{}\nRaw: `bench/results/{file_name}`.\n",
                machine_line(results),
                body
            );
            md = replace_section(&md, name, &text);
        }
    }
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    Ok(md_path)
}

const HEADER: &str = "# Benchmarks\n\nEvery number here comes from `cargo xtask bench …` (see `xtask/src/bench/`): \
enforcer and its peers run on identical input in one run; each section is rewritten by the \
benchmark that owns it and names the machine. Raw results are in `bench/results/`.\n";

fn replace_section(md: &str, name: &str, text: &str) -> String {
    let open = format!("<!-- bench:{name} -->");
    let close = format!("<!-- /bench:{name} -->");
    let block = format!("{open}\n{text}{close}");
    if let (Some(a), Some(b)) = (md.find(&open), md.find(&close))
        && a < b
    {
        return format!("{}{}{}", &md[..a], block, &md[b + close.len()..]);
    }
    format!("{}\n## {name}\n\n{block}\n", md.trim_end())
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn fmt_pps(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 1e6 => format!("{:.2} M", x / 1e6),
        Some(x) if x >= 1e3 => format!("{:.1} k", x / 1e3),
        Some(x) => format!("{x:.0}"),
        None => "—".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

fn drop_table(section: &Value) -> String {
    let rows = section["rows"].as_array().cloned().unwrap_or_default();
    let find = |peer: &str, n: u64| {
        rows.iter()
            .find(|r| r["peer"] == peer && r["bans"].as_u64() == Some(n))
    };
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", section["topology"].as_str().unwrap_or(""));
    let _ = writeln!(
        s,
        "\"friend\" = a source that is not banned floods while the N bans are loaded: packets/s that reach UDP in the protected namespace. \
\"banned\" = the banned source floods: offered (= dropped) packets/s, and how many still reached UDP. \
\"vs 1 ban\" = friend rate at N / the same peer's rate at 1 ban; \"vs xdp\" = friend rate / XDP's at the same N.\n"
    );
    let _ = writeln!(
        s,
        "| peer | bans | load s | unban-all s | friend reached pps | vs 1 ban | vs xdp | banned offered pps | banned vs xdp | banned reached | XDP ns/pkt pass / drop |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let peer = r["peer"].as_str().unwrap_or("");
        let n = r["bans"].as_u64().unwrap_or(0);
        if r["load"]["finished"] == false {
            let _ = writeln!(
                s,
                "| {peer} | {n} | >{:.0} (not finished) | | | | | | | | |",
                num(&r["load"]["secs"]).unwrap_or(0.0)
            );
            continue;
        }
        let friend = num(&r["friend"]["reached_pps"]);
        let banned = num(&r["banned"]["offered_pps"]);
        let base = find(peer, 1).and_then(|b| num(&b["friend"]["reached_pps"]));
        let xdp = find("xdp", n);
        let xdp_friend = xdp.and_then(|x| num(&x["friend"]["reached_pps"]));
        let xdp_banned = xdp.and_then(|x| num(&x["banned"]["offered_pps"]));
        let ns = match (
            num(&r["friend"]["xdp_ns_per_packet"]),
            num(&r["banned"]["xdp_ns_per_packet"]),
        ) {
            (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
            _ => "—".into(),
        };
        let secs = |v: &Value| {
            num(v)
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "—".into())
        };
        let _ = writeln!(
            s,
            "| {peer} | {n} | {} | {} | {} | {} | {} | {} | {} | {} | {ns} |",
            secs(&r["load"]["secs"]),
            secs(&r["load"]["unban_all_secs"]),
            fmt_pps(friend),
            if peer == "none" {
                "—".into()
            } else {
                ratio(friend, base)
            },
            if peer == "none" {
                "—".into()
            } else {
                ratio(friend, xdp_friend)
            },
            fmt_pps(banned),
            if peer == "none" {
                "—".into()
            } else {
                ratio(banned, xdp_banned)
            },
            r["banned"]["reached"],
        );
    }
    s.push('\n');
    notes(&mut s, section);
    s
}

fn notes(s: &mut String, section: &Value) {
    if let Some(notes) = section["notes"].as_array() {
        for n in notes {
            let _ = writeln!(s, "- {}", n.as_str().unwrap_or(""));
        }
    }
}

fn memory_table(section: &Value) -> String {
    let rows = section["rows"].as_array().cloned().unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}
",
        section["how"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        s,
        "| peer | active bans | RSS MiB | RSS bytes/ban (vs 0 bans) | kernel BPF map MiB | kernel bytes/ban (vs 0 bans) | RSS vs enforcer |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    let rss = |r: &Value| num(&r["rss_bytes"]);
    for r in &rows {
        let peer = r["peer"].as_str().unwrap_or("");
        let n = r["bans"].as_u64().unwrap_or(0);
        let zero = rows
            .iter()
            .find(|x| x["peer"] == peer && x["bans"].as_u64() == Some(0))
            .and_then(rss);
        let per = match (rss(r), zero) {
            (Some(a), Some(z)) if n > 0 => format!("{:.0}", (a - z) / n as f64),
            _ => "—".into(),
        };
        let enf = rows
            .iter()
            .find(|x| x["peer"] == "enforcer" && x["bans"].as_u64() == Some(n))
            .and_then(rss);
        let zero_maps = rows
            .iter()
            .find(|x| x["peer"] == peer && x["bans"].as_u64() == Some(0))
            .and_then(|x| num(&x["bpf_map_bytes"]));
        let kper = match (num(&r["bpf_map_bytes"]), zero_maps) {
            (Some(a), Some(z)) if n > 0 => format!("{:.0}", (a - z) / n as f64),
            _ => "—".into(),
        };
        let capped = if r["capped_from"].is_null() {
            String::new()
        } else {
            format!(" (capped, of {})", r["capped_from"])
        };
        let _ = writeln!(
            s,
            "| {peer} | {n}{capped} | {:.1} | {per} | {} | {kper} | {} |",
            rss(r).unwrap_or(0.0) / 1048576.0,
            num(&r["bpf_map_bytes"])
                .map(|b| format!("{:.1}", b / 1048576.0))
                .unwrap_or_else(|| "—".into()),
            if peer == "enforcer" {
                "1.00".into()
            } else {
                ratio(rss(r), enf)
            },
        );
    }
    s.push('\n');
    notes(&mut s, section);
    s
}

fn bulk_table(section: &Value) -> String {
    let rows = section["rows"].as_array().cloned().unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| peer | bans | how | load s | bans/s | restart s | `banned` s | unban-all s | unbans/s |"
    );
    let _ = writeln!(s, "|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let n = num(&r["bans"]).unwrap_or(0.0);
        let rate = |v: &Value| {
            num(v)
                .filter(|x| *x > 0.0)
                .map(|x| fmt_pps(Some(n / x)))
                .unwrap_or_else(|| "—".into())
        };
        let secs = |v: &Value| {
            num(v)
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "—".into())
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r["peer"].as_str().unwrap_or(""),
            n,
            r["how"].as_str().unwrap_or(""),
            secs(&r["load_secs"]),
            rate(&r["load_secs"]),
            secs(&r["restart_secs"]),
            secs(&r["banned_cli_secs"]),
            secs(&r["unban_all_secs"]),
            rate(&r["unban_all_secs"]),
        );
    }
    s.push('\n');
    notes(&mut s, section);
    s
}

fn latency_table(section: &Value) -> String {
    let rows = section["rows"].as_array().cloned().unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", section["how"].as_str().unwrap_or(""));
    let _ = writeln!(
        s,
        "| peer | bans timed | p50 ms | p99 ms | max ms | not dropped in 10 s |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    let ms = |v: &Value| {
        num(v)
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "—".into())
    };
    for r in &rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r["peer"].as_str().unwrap_or(""),
            r["bans"],
            ms(&r["p50_ms"]),
            ms(&r["p99_ms"]),
            ms(&r["max_ms"]),
            r["missed"],
        );
    }
    s.push('\n');
    notes(&mut s, section);
    s
}

/// The fastest and the slowest of a command's runs ("-" without runs): on
/// a shared host the spread shows how much the machine's load moved the
/// median.
fn spread(runs: &Value) -> String {
    let runs: Vec<f64> = runs
        .as_array()
        .map(|a| a.iter().filter_map(num).collect())
        .unwrap_or_default();
    let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match runs.is_empty() {
        true => "-".to_string(),
        false => format!("{lo:.3}-{hi:.3}"),
    }
}

fn regex_table(section: &Value) -> String {
    let rows = section["rows"].as_array().cloned().unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", section["how"].as_str().unwrap_or(""));
    let _ = writeln!(
        s,
        "{} lines, {} matched by both enforcer and fail2ban-regex.\n",
        section["lines"], section["matched"]
    );
    let _ = writeln!(
        s,
        "| tool | seconds | runs, fastest-slowest | CPU seconds | lines/s | peak RSS MiB | lines/s vs fail2ban-regex |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    let f2b = rows
        .iter()
        .find(|r| r["tool"] == "fail2ban-regex")
        .and_then(|r| num(&r["lines_per_sec"]));
    for r in &rows {
        let _ = writeln!(
            s,
            "| {} | {:.3} | {} | {} | {} | {} | {} |",
            r["tool"].as_str().unwrap_or(""),
            num(&r["secs"]).unwrap_or(0.0),
            spread(&r["runs_secs"]),
            num(&r["cpu_secs"]).map_or("-".to_string(), |c| format!("{c:.2}")),
            fmt_pps(num(&r["lines_per_sec"])),
            num(&r["max_rss_kib"]).map_or("-".to_string(), |k| format!("{:.1}", k / 1024.0)),
            ratio(num(&r["lines_per_sec"]), f2b),
        );
    }
    s.push('\n');
    notes(&mut s, section);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_gives_the_fastest_and_slowest_run() {
        assert_eq!(spread(&serde_json::json!([0.61, 0.5, 0.7])), "0.500-0.700");
        assert_eq!(spread(&serde_json::json!([])), "-");
        assert_eq!(spread(&Value::Null), "-");
    }
}
