//! `heapsnap report`: one self-contained HTML page, bounded in size, that
//! works in a browser. The browser tests run headless Chromium (when it is
//! installed; CI installs Debian's `chromium` and then requires it): the
//! page drives its own controls (`#selftest`) and the test reads what it
//! saw from the page's DOM; screenshots in light and dark are left in
//! `target/tmp/html-report/` for people to look at.

mod tools;

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use serde_json::Value;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Writes the report of `inputs` (and `args`) to `dir/report.html`.
fn report(inputs: &[&Path], args: &[&str], dir: &Path) -> (PathBuf, String) {
    let out = dir.join("report.html");
    Command::cargo_bin("heapsnap")
        .unwrap()
        .arg("report")
        .args(inputs)
        .args(args)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let page = std::fs::read_to_string(&out).unwrap();
    (out, page)
}

/// The data set embedded in a page.
fn embedded(page: &str) -> Value {
    let start = page
        .find(r#"<script type="application/json" id="data">"#)
        .expect("the data element");
    let rest = &page[start..];
    let json = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(json).expect("the data is JSON")
}

#[test]
fn the_page_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let engine = data("snapshots/engine");
    let (_, page) = report(&[&engine], &["--title", "<b>{{data}}</b> & co"], dir.path());
    // Nothing is fetched: no external script, style, font or image, and
    // the policy forbids any request.
    for pattern in ["src=", "<link", "@import", "url(", "https://"] {
        assert!(!page.contains(pattern), "the page has {pattern:?}");
    }
    let http: Vec<&str> = page.matches("http://").collect();
    assert_eq!(
        page.matches("http://www.w3.org/2000/svg").count(),
        http.len(),
        "only the SVG namespace is a URL"
    );
    assert!(page.contains("default-src 'none'"));
    // The title is text, once, and is not read for markers.
    assert!(page.contains("<title>&lt;b&gt;{{data}}&lt;/b&gt; &amp; co</title>"));
    assert_eq!(page.matches("</script>").count(), 2);
    let set = embedded(&page);
    assert_eq!(set["snapshots"].as_array().unwrap().len(), 11);
    let suspects = set["leaks"]["suspects"].as_array().unwrap();
    assert_eq!(suspects[0]["type"], "HashMap<String, Arc<Program>>");
    let series = suspects[0]["series"].as_array().unwrap();
    assert_eq!(series.len(), 11);
    assert_eq!(series[0]["at_ms"], 0);
    assert!(series[10]["bytes"].as_f64().unwrap() > 10e6);
    assert!(series[10]["stddev"].as_f64().unwrap() > 0.0);
    // Every site a snapshot names exists, and a snapshot's sites sum to
    // what its own sites held.
    let sites = set["sites"].as_array().unwrap().len() as u64;
    for snapshot in set["snapshots"].as_array().unwrap() {
        let columns = &snapshot["sites"];
        let rows = columns["site"].as_array().unwrap();
        for id in rows {
            assert!(id.as_u64().unwrap() < sites);
        }
        for column in ["live_bytes", "live_allocs", "allocated_bytes"] {
            assert_eq!(columns[column].as_array().unwrap().len(), rows.len());
        }
    }
}

/// The page's flamegraph draws what `heapsnap flamegraph` draws: stacks
/// end at the program's allocating frame, without the allocation
/// machinery of `alloc` and `hashbrown` above it.
#[test]
fn the_pages_stacks_end_at_the_programs_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (_, page) = report(&[&data("snapshots/engine")], &[], dir.path());
    let set = embedded(&page);
    let frames: Vec<&str> = set["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let mut tips = 0;
    for site in set["sites"].as_array().unwrap() {
        let Some(tip) = site["path"].as_array().unwrap().last() else {
            continue;
        };
        let tip = frames[tip.as_u64().unwrap() as usize];
        assert!(
            !tip.contains("raw_vec") && !tip.contains("RawVec") && !tip.contains("hashbrown"),
            "a stack ends in the allocation machinery: {tip}"
        );
        tips += 1;
    }
    assert!(tips > 5, "{tips} stacks");
}

#[test]
fn one_snapshot_makes_a_page_without_a_leak_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let (_, page) = report(&[&data("snapshots/quickstart.json")], &[], dir.path());
    let set = embedded(&page);
    assert!(set["leaks"].is_null());
    assert!(
        set["leaks_unavailable"]
            .as_str()
            .unwrap()
            .contains("two or more")
    );
    assert_eq!(set["snapshots"].as_array().unwrap().len(), 1);
}

/// Writes `count` copies of the quickstart snapshot, one second apart,
/// each with `sites_each` sites told apart by their tags.
fn synthetic_run(dir: &Path, count: usize, sites_each: usize) {
    let text = std::fs::read_to_string(data("snapshots/quickstart.json")).unwrap();
    let base: Value = serde_json::from_str(&text).unwrap();
    let template = base["sites"][0].clone();
    for i in 0..count {
        let mut snapshot = base.clone();
        snapshot["seq"] = (i as u64).into();
        let uptime = base["uptime_ms"].as_u64().unwrap() + 1000 * i as u64;
        snapshot["uptime_ms"] = uptime.into();
        let taken = base["taken_at_ms"].as_u64().unwrap() + 1000 * i as u64;
        snapshot["taken_at_ms"] = taken.into();
        let sites: Vec<Value> = (0..sites_each)
            .map(|k| {
                let mut site = template.clone();
                site["tag"] = format!("conn-{k}").into();
                site
            })
            .collect();
        snapshot["sites"] = sites.into();
        let name = format!("heapsnap-{:06}-1-interval.json", i + 1);
        std::fs::write(dir.join(name), serde_json::to_vec(&snapshot).unwrap()).unwrap();
    }
}

#[test]
fn big_runs_are_bounded_and_their_totals_whole() {
    let input = tempfile::tempdir().unwrap();
    synthetic_run(input.path(), 70, 2_500);
    let dir = tempfile::tempdir().unwrap();
    let (_, page) = report(&[input.path()], &[], dir.path());
    let set = embedded(&page);
    assert_eq!(set["snapshots_left_out"], 10);
    let snapshots = set["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 60);
    assert_eq!(snapshots[0]["at_ms"], 0);
    assert_eq!(snapshots[59]["at_ms"], 69_000);
    assert_eq!(set["sites_left_out"], 500);
    let sites = set["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2_001);
    assert!(
        sites[2_000]["type"]
            .as_str()
            .unwrap()
            .contains("500 other sites")
    );
    // The 500 left out are one row of their summed bytes.
    let template: Value =
        serde_json::from_str(&std::fs::read_to_string(data("snapshots/quickstart.json")).unwrap())
            .unwrap();
    let each = template["sites"][0]["live_bytes"].as_u64().unwrap();
    let last = &snapshots[59]["sites"];
    let live: Vec<u64> = last["live_bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(live.iter().sum::<u64>(), each * 2_500);
    let other = last["site"]
        .as_array()
        .unwrap()
        .iter()
        .position(|id| id == 2_000)
        .expect("the other sites");
    assert_eq!(live[other], each * 500);
    // The tables: ten snapshots, every pair of them diffed.
    let tables = &set["tables"];
    assert_eq!(tables["views"].as_array().unwrap().len(), 10);
    assert_eq!(tables["diffs"].as_array().unwrap().len(), 45);
    assert!(page.len() < 5 << 20, "{} bytes", page.len());
}

/// The command's JSON for `args` on `dir`.
fn command_json(args: &[&str], dir: &Path) -> Value {
    let output = Command::cargo_bin("heapsnap")
        .unwrap()
        .args(args)
        .args(["--format", "json", "--limit", "100"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The page's top and diff tables are the commands' figures: the same
/// rows, in the same order, with the same error bars.
#[test]
fn the_pages_tables_are_the_commands_figures() {
    let run = data("snapshots/engine");
    let dir = tempfile::tempdir().unwrap();
    let (_, page) = report(&[&run], &[], dir.path());
    let set = embedded(&page);
    let tables = &set["tables"];
    let places = tables["places"].as_array().unwrap();
    let views = tables["views"].as_array().unwrap();
    let newest = views.len() - 1;
    assert_eq!(
        views[newest],
        set["snapshots"].as_array().unwrap().len() - 1
    );
    let same = |page: &Value, command: &Value, fields: &[&str], what: &str| {
        let (page, command) = (page.as_array().unwrap(), command.as_array().unwrap());
        assert_eq!(page.len(), command.len(), "{what}: rows");
        assert!(!page.is_empty(), "{what}: no rows");
        for (p, c) in page.iter().zip(command) {
            let place = &places[p["place"].as_u64().unwrap() as usize];
            assert_eq!(place["type"], c["type"], "{what}");
            assert_eq!(place["location"], c["location"], "{what}");
            for field in fields {
                assert_eq!(p[field], c[field], "{what}: {field}");
            }
        }
    };
    let top_fields = [
        "live_bytes",
        "live_bytes_stddev",
        "live_allocs",
        "share",
        "allocated_bytes",
        "sites",
    ];
    for by in ["site", "type", "function", "tag"] {
        let command = command_json(&["top", "--by", by], &run);
        same(
            &tables["tops"][newest][by],
            &command["rows"],
            &top_fields,
            &format!("top by {by}"),
        );
    }
    let diff = tables["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["base"] == views[0] && d["new"] == views[newest])
        .expect("the diff of the first and newest");
    let command = command_json(&["diff"], &run);
    assert_eq!(diff["growth_bytes"], command["growth_bytes"]);
    assert_eq!(diff["growth_stddev"], command["growth_stddev"]);
    let mut sites = command["sites"].as_array().unwrap().clone();
    sites.extend(command["shrunk"].as_array().unwrap().iter().cloned());
    let diff_fields = [
        "before_bytes",
        "after_bytes",
        "delta_bytes",
        "delta_stddev",
        "delta_allocs",
    ];
    same(
        &diff["sites"],
        &Value::from(sites),
        &diff_fields,
        "diff by site",
    );
    same(
        &diff["type"],
        &command["types"],
        &diff_fields,
        "diff by type",
    );
}

// ------------------------------------------------------------ the browser

fn chromium() -> Option<PathBuf> {
    tools::find(
        &["chromium", "chromium-browser", "google-chrome"],
        "--version",
        "chromium",
    )
}

/// Headless Chromium on `page`, with `args`; its standard output.
fn headless(browser: &Path, page: &Path, fragment: &str, args: &[&str]) -> String {
    let output = Process::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=20000",
        ])
        .args(args)
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the page saw when it drove its own controls.
fn self_test(browser: &Path, page: &Path, args: &[&str]) -> Value {
    let dom = headless(
        browser,
        page,
        "#selftest",
        &[&["--dump-dom"], args].concat(),
    );
    let start = dom
        .find(r#"<pre id="selftest""#)
        .expect("the self-test element");
    let rest = &dom[start..];
    let text = &rest[rest.find('>').unwrap() + 1..rest.find("</pre>").unwrap()];
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let result: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the self-test wrote no JSON ({e}): {text:?}"));
    assert_eq!(result["ok"], true, "the page failed: {result}");
    result["checks"].clone()
}

#[test]
fn the_page_works_in_a_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (page, _) = report(&[&data("snapshots/engine")], &[], dir.path());
    let checks = self_test(&browser, &page, &[]);
    // Nothing fetched, no error thrown or logged.
    assert_eq!(checks["resources"], serde_json::json!([]), "{checks}");
    assert_eq!(checks["problems"], serde_json::json!([]), "{checks}");
    // One suspect: its card, named, its chart and the chart's error band.
    assert_eq!(checks["suspect_cards"], 1, "{checks}");
    assert!(
        checks["first_suspect"]
            .as_str()
            .unwrap()
            .starts_with("1. HashMap<String, Arc<Program>> grown in CodeLoader::load"),
        "{checks}"
    );
    assert_eq!(checks["charts"], 1, "{checks}");
    assert_eq!(checks["bands"], 1, "{checks}");
    // The flamegraph draws, zooms to a frame (now the full width, with
    // fewer frames around it), and comes back.
    let frames = checks["frames"].as_u64().unwrap();
    assert!(frames > 20, "{checks}");
    assert_eq!(checks["zoomed_width"], "100%", "{checks}");
    assert!(
        checks["zoomed_frames"].as_u64().unwrap() < frames,
        "{checks}"
    );
    assert_eq!(checks["reset_frames"].as_u64().unwrap(), frames, "{checks}");
    // Search highlights frames and says how much they hold.
    assert!(checks["search_matches"].as_u64().unwrap() >= 1, "{checks}");
    assert!(
        checks["search_text"]
            .as_str()
            .unwrap()
            .starts_with("matched "),
        "{checks}"
    );
    // The top table sorts by any column, both ways.
    assert!(checks["top_rows"].as_u64().unwrap() > 5, "{checks}");
    // Its first row and the diff's, as the commands print them.
    let run = data("snapshots/engine");
    let top = command_json(&["top"], &run);
    let live = top["rows"][0]["live_bytes"].as_u64().unwrap();
    assert_eq!(
        checks["top_first_live"],
        heapsnap_report::format::bytes(live)
    );
    let diff = command_json(&["diff"], &run);
    let change = diff["sites"][0]["delta_bytes"].as_i64().unwrap();
    assert_eq!(
        checks["diff_first_change"],
        heapsnap_report::format::signed_bytes(change)
    );
    // Its error bar is the command's one σ (the page once showed two).
    let sigma = diff["sites"][0]["delta_stddev"].as_f64().unwrap();
    assert_eq!(
        checks["diff_first_error"],
        heapsnap_report::format::bytes(sigma.round() as u64)
    );
    assert_eq!(checks["top_sorted_by_type"], true, "{checks}");
    assert_eq!(checks["top_sort_attribute"], "ascending", "{checks}");
    assert_eq!(checks["top_live_sort"], "ascending", "{checks}");
    // The diff between the first and newest snapshots, and from another.
    assert!(checks["diff_rows"].as_u64().unwrap() > 0, "{checks}");
    assert!(
        checks["diff_summary"]
            .as_str()
            .unwrap()
            .contains("64.2 KiB → 18.3 MiB"),
        "{checks}"
    );
    assert!(
        checks["diff_rows_from_second"].as_u64().unwrap() > 0,
        "{checks}"
    );
    // Light and dark differ; the system's dark preference is followed.
    assert_ne!(checks["dark_background"], checks["light_background"]);
    assert_eq!(checks["system_dark"], false, "{checks}");
    assert_eq!(checks["initial_background"], checks["light_background"]);
    let dark = self_test(&browser, &page, &["--force-dark-mode"]);
    assert_eq!(dark["system_dark"], true, "{dark}");
    assert_eq!(dark["initial_background"], checks["dark_background"]);

    // A window 1,000 px wide: nothing is wider than it.
    let narrow = self_test(&browser, &page, &["--window-size=1000,2400"]);
    assert_eq!(narrow["width"], 1000, "{narrow}");
    assert!(
        narrow["overflow"].as_i64().is_some_and(|o| o <= 0),
        "the page is wider than a 1,000 px window: {narrow}"
    );

    // Screenshots for people, 1,000 px wide (CI keeps them as artifacts).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, extra) in [("light.png", None), ("dark.png", Some("--force-dark-mode"))] {
        let shot = shots.join(name);
        let _ = std::fs::remove_file(&shot);
        let screenshot = format!("--screenshot={}", shot.display());
        let mut args = vec![screenshot.as_str(), "--window-size=1000,2400"];
        args.extend(extra);
        headless(&browser, &page, "", &args);
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{name}: {size} bytes");
    }
}

/// A run that ended gracefully (its state dropped over its last six
/// snapshots): the page is of the run while it served, from its header to
/// its diff, and names the leak, in a browser.
#[test]
fn a_run_that_ended_gracefully_is_shown_while_it_served() {
    let dir = tempfile::tempdir().unwrap();
    let (page, html) = report(&[&data("snapshots/drain")], &[], dir.path());
    let set = embedded(&html);
    let snapshots = set["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), 10, "the six teardown snapshots left out");
    assert!(
        snapshots[9]["source"]
            .as_str()
            .unwrap()
            .contains("heapsnap-000010-13932-growth")
    );
    let Some(browser) = chromium() else { return };
    let checks = self_test(&browser, &page, &[]);
    let summary = checks["summary"].as_str().unwrap();
    assert!(summary.contains("10 snapshots"), "{checks}");
    assert!(!summary.ends_with("→ 0 B"), "{checks}");
    assert!(
        checks["first_suspect"]
            .as_str()
            .unwrap()
            .contains("HashMap<u64, Vec<u8>>"),
        "{checks}"
    );
    assert!(checks["diff_rows"].as_u64().unwrap() > 0, "{checks}");
}

#[test]
fn a_page_of_one_snapshot_works_in_a_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (page, _) = report(&[&data("snapshots/quickstart.json")], &[], dir.path());
    let checks = self_test(&browser, &page, &[]);
    assert_eq!(checks["problems"], serde_json::json!([]), "{checks}");
    assert_eq!(checks["charts"], 0, "{checks}");
    assert!(checks["frames"].as_u64().unwrap() > 3, "{checks}");
    assert!(checks["top_rows"].as_u64().unwrap() > 0, "{checks}");
    // Base and new are the same snapshot: nothing changed.
    assert_eq!(checks["diff_rows"], 0, "{checks}");
}
