//! What the incident examples share: their command line, automatic dumps
//! into a directory while they run, and the analysis at the end (leak
//! suspects on stdout, a flamegraph of the newest snapshot, the HTML report).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The command line of an incident example.
pub struct Options {
    /// How long the load runs.
    pub duration: Duration,
    /// Where the snapshots go.
    pub dir: PathBuf,
    /// True when `dir` is the example's own default (which it may clean).
    pub default_dir: bool,
    /// Time between automatic dumps.
    pub interval: Duration,
    /// Run with the bug fixed (the control).
    pub fixed: bool,
    /// Print the analysis at the end.
    pub report: bool,
    /// Load: operations per second.
    pub rate: u32,
}

const USAGE: &str =
    "options: --seconds N  --rate N  --dir DIR  --interval-ms N  --fixed  --no-report";

impl Options {
    /// Reads the command line; exits with status 2 and the usage on error.
    pub fn parse(name: &str, default_rate: u32) -> Options {
        let default_dir = Path::new("target").join("heapsnap-demo").join(name);
        let mut options = Options {
            duration: Duration::from_secs(20),
            dir: default_dir.clone(),
            default_dir: true,
            interval: Duration::from_secs(1),
            fixed: false,
            report: true,
            rate: default_rate,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |what: &str| {
                args.next()
                    .unwrap_or_else(|| usage(&format!("{arg} needs {what}")))
            };
            match arg.as_str() {
                "--seconds" => {
                    options.duration = Duration::from_secs_f64(number(&value("a number")))
                }
                "--rate" => options.rate = number(&value("a number")) as u32,
                "--interval-ms" => {
                    options.interval = Duration::from_millis(number(&value("a number")) as u64)
                }
                "--dir" => {
                    options.dir = PathBuf::from(value("a directory"));
                    options.default_dir = false;
                }
                "--fixed" => options.fixed = true,
                "--no-report" => options.report = false,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => usage(&format!("unknown option {other}")),
            }
        }
        // `HEAPSNAP_DIR` set: the profiler already dumps there on its own.
        if let Some(dir) = std::env::var_os("HEAPSNAP_DIR") {
            options.dir = PathBuf::from(dir);
            options.default_dir = false;
        }
        options
    }
}

fn number(text: &str) -> f64 {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => n,
        _ => usage(&format!("not a positive number: {text}")),
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n{USAGE}");
    std::process::exit(2);
}

/// Starts automatic dumps into `options.dir` (unless `HEAPSNAP_DIR` already
/// did). Snapshots of earlier runs in the example's default directory are
/// removed first; a directory the user named is left as it is (the analysis
/// picks the newest process).
pub fn start_dumps(options: &Options) {
    if options.default_dir
        && let Ok(entries) = std::fs::read_dir(&options.dir)
    {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("heapsnap-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    if std::env::var_os("HEAPSNAP_DIR").is_some() {
        return;
    }
    // `finish` takes the last snapshot itself, before the analysis.
    let started = heapsnap::AutoDump::new(&options.dir)
        .interval(Some(options.interval))
        .on_exit(false)
        .start();
    if let Err(err) = started {
        eprintln!("cannot start automatic dumps: {err}");
        std::process::exit(1);
    }
}

/// Takes a last snapshot, then prints the leak suspects over the run and
/// writes a flamegraph of the newest snapshot and the HTML report.
pub fn finish(options: &Options) {
    let last = match heapsnap::dump_to_dir(&options.dir) {
        Ok(path) => path,
        Err(err) => {
            eprintln!("cannot write the last snapshot: {err}");
            std::process::exit(1);
        }
    };
    if !options.report {
        return;
    }
    if let Err(err) = analyse(&options.dir, &last) {
        let mut message = err.to_string();
        let mut cause = err.source();
        while let Some(inner) = cause {
            message = format!("{message}: {inner}");
            cause = inner.source();
        }
        eprintln!("analysis failed: {message}");
        std::process::exit(1);
    }
}

fn analyse(dir: &Path, last: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use heapsnap_report::{flame, leaks, load, render, report};
    let dir_text = dir.display().to_string();
    let mut loaded = load::many(std::slice::from_ref(&dir_text))?;
    // Automatic dumps keep bare addresses: named here, from this binary.
    heapsnap_report::symbolize::name_from_this_machine(&mut loaded);
    let report = leaks::leaks(&loaded, &leaks::Options::default())?;
    let mut out = std::io::stdout().lock();
    render::text::leaks(&report, &mut out)?;

    let mut newest = load::one(&last.display().to_string())?;
    heapsnap_report::symbolize::name_from_this_machine(std::slice::from_mut(&mut newest));
    let svg = dir.join("heap.svg");
    let file = std::io::BufWriter::new(std::fs::File::create(&svg)?);
    flame::flamegraph(&newest, &flame::Options::default(), file)?;
    let html = dir.join("report.html");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&html)?);
    render::html::write(
        &report::report(&loaded, &report::Options::default())?,
        &mut file,
    )?;
    std::io::Write::flush(&mut file)?;
    println!();
    println!(
        "Snapshots: {dir_text}/   flamegraph of the last: {}",
        svg.display()
    );
    println!("Report:    {} (open it in a browser)", html.display());
    println!("Explore:   cargo run --release -p heapsnap-report -- leaks {dir_text}");
    println!(
        "           cargo run --release -p heapsnap-report -- top {}",
        last.display()
    );
    Ok(())
}
