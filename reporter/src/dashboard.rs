//! `heapsnap watch`: a terminal dashboard that follows a dump directory
//! while its program runs. The live heap over time (from the live
//! counters file, a reading a second), the leak report and the top table
//! of the snapshots seen so far, as `heapsnap leaks` and `top` print them,
//! refreshed as snapshots arrive. Drawn with ratatui; the terminal is
//! restored on `q`, Ctrl-C, an error and a panic.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use heapsnap_format::units::format_bytes;
use heapsnap_report::live::{self, Live, Reading};
use heapsnap_report::render::{self, style};
use heapsnap_report::symbolize::{self, Symbolizer};
use heapsnap_report::{Loaded, diff, format, leaks, load, report, top};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};
use ratatui::{DefaultTerminal, Frame};

use crate::output;

/// How often the directory and the counters are read.
const REFRESH: Duration = Duration::from_secs(1);
/// Readings kept for the chart.
const HISTORY: usize = 600;

/// One reading of the counters, for the chart.
#[derive(Clone, Copy)]
struct Point {
    live_bytes: u64,
    rss_bytes: u64,
}

/// What the lower pane shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Leaks,
    Top(top::GroupBy),
    /// The run's first snapshot against its newest, as `heapsnap diff DIR`.
    Diff,
}

/// What the dashboard has seen of the directory.
struct Watch {
    dir: PathBuf,
    report_path: PathBuf,
    symbolizer: Option<Symbolizer>,
    /// The snapshots read so far, in the order they were written; those
    /// rotated away are let go.
    loaded: Vec<Loaded>,
    seen: BTreeSet<PathBuf>,
    live: Option<Live>,
    reading: Option<Reading>,
    /// Readings of the live heap and RSS, oldest first.
    history: VecDeque<Point>,
    leaks: Result<leaks::Report, String>,
    view: View,
    /// Whether the chart tells its lines apart by colour (else by mark).
    color: bool,
    frozen: bool,
    scroll: u16,
    message: String,
    /// The dump interval to ask for, and the request file written.
    interval: Option<Duration>,
    request: Option<PathBuf>,
}

/// Follows `dir` until the user quits. `report_path`: where `r` writes
/// the HTML report; `interval`: the dump interval to ask the process for.
pub fn run(dir: &Path, report_path: &Path, interval: Option<Duration>) -> Result<()> {
    let mut watch = Watch {
        dir: dir.to_owned(),
        report_path: report_path.to_owned(),
        symbolizer: Symbolizer::new(symbolize::Options::default()).ok(),
        loaded: Vec::new(),
        seen: BTreeSet::new(),
        live: None,
        reading: None,
        history: VecDeque::new(),
        leaks: Err("no snapshot yet".into()),
        view: View::Leaks,
        color: style::current().color,
        frozen: false,
        scroll: 0,
        message: String::new(),
        interval,
        request: None,
    };
    watch.refresh();
    let ending = ending::Signals::arm()?;
    let terminal = ratatui::init();
    let outcome = watch.follow(terminal, &ending);
    ratatui::restore();
    style::set(style::Style::default());
    watch.withdraw_request();
    // Ended by a signal: as the signal would have ended it, now that the
    // terminal is what it was.
    ending.end_as_received();
    outcome
}

impl Watch {
    fn follow(&mut self, mut terminal: DefaultTerminal, ending: &ending::Signals) -> Result<()> {
        let mut refreshed = Instant::now();
        loop {
            if ending.received() {
                return Ok(());
            }
            terminal.draw(|frame| self.draw(frame))?;
            // Short waits: a signal is seen within one.
            let wait = REFRESH
                .saturating_sub(refreshed.elapsed())
                .min(ending::LATENCY);
            // Waited for here, not in crossterm: its poll never returns
            // once the terminal is gone (crossterm-rs/crossterm#793).
            if !ending.wait_for_input(wait) {
                return Ok(());
            }
            while event::poll(Duration::ZERO)? {
                match event::read()? {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL)
                            && key.code == KeyCode::Char('c');
                        if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                            return Ok(());
                        }
                        self.key(key.code);
                    }
                    // Drawn again at the new size on the next turn.
                    _ => {}
                }
            }
            if refreshed.elapsed() >= REFRESH {
                if !self.frozen {
                    self.refresh();
                }
                refreshed = Instant::now();
            }
        }
    }

    fn key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Char('l') => self.view = View::Leaks,
            KeyCode::Char('s') => self.view = View::Top(top::GroupBy::Site),
            KeyCode::Char('t') => self.view = View::Top(top::GroupBy::Type),
            KeyCode::Char('f') => self.view = View::Top(top::GroupBy::Function),
            KeyCode::Char('g') => self.view = View::Top(top::GroupBy::Tag),
            KeyCode::Char('d') => self.view = View::Diff,
            KeyCode::Char(' ') => self.frozen = !self.frozen,
            KeyCode::Char('r') => self.write_report(),
            // What the tests use to see the terminal restored after a
            // panic; debug builds only.
            #[cfg(debug_assertions)]
            KeyCode::Char('!') => panic!("a deliberate panic (`!` in a debug build)"),
            KeyCode::Down | KeyCode::Char('j') => self.scroll = self.scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            _ => return,
        }
        if matches!(code, KeyCode::Char('l' | 's' | 't' | 'f' | 'g' | 'd')) {
            self.scroll = 0;
        }
    }

    /// Reads the counters, and the snapshots written since last time.
    fn refresh(&mut self) {
        self.read_counters();
        self.ask_for_interval();
        let Ok(files) = load::snapshot_files(&self.dir) else {
            self.message = format!("cannot read {}", self.dir.display());
            return;
        };
        let present: BTreeSet<&PathBuf> = files.iter().collect();
        let before = self.loaded.len();
        self.loaded
            .retain(|l| present.contains(&PathBuf::from(&l.source)));
        let mut added = self.loaded.len() != before;
        for file in &files {
            if !self.seen.insert(file.clone()) {
                continue;
            }
            match load::one(&file.to_string_lossy()) {
                Ok(mut loaded) => {
                    if let Some(symbolizer) = &mut self.symbolizer {
                        symbolizer.symbolize(&mut loaded.snapshot);
                    }
                    self.loaded.push(loaded);
                    added = true;
                }
                Err(err) => self.message = err.to_string(),
            }
        }
        if added {
            symbolize::share_names_within_processes(&mut self.loaded);
            self.leaks = leaks::leaks(&self.loaded, &leaks::Options::default())
                .map_err(|err| err.to_string());
        }
    }

    /// A reading of the counters of the newest running process dumping
    /// here (the file found again when its process ended or restarted).
    fn read_counters(&mut self) {
        let fresh = self.reading.as_ref().is_some_and(|r| !r.stale);
        if !fresh || self.live.is_none() {
            let found = live::find(&self.dir.to_string_lossy()).ok();
            let newest = found.and_then(|paths| paths.last().cloned());
            if let Some(path) = newest
                && self.live.as_ref().is_none_or(|l| l.path() != path)
            {
                self.live = Live::open(&path).ok();
                self.history.clear();
            }
        }
        let Some(reading) = self.live.as_ref().and_then(|l| l.read().ok()) else {
            return;
        };
        if !reading.stale {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(Point {
                live_bytes: reading.counters.live_bytes,
                rss_bytes: reading.counters.rss_bytes,
            });
        }
        self.reading = Some(reading);
    }

    /// Writes (again: a request lasts `REQUEST_FRESH`) the request for
    /// `interval` to the running process. A file of that name that is not
    /// a regular file (a link) is left alone, and nothing is asked.
    fn ask_for_interval(&mut self) {
        let (Some(interval), Some(reading)) = (self.interval, &self.reading) else {
            return;
        };
        let (Ok(pid), stale) = (u32::try_from(reading.counters.pid), reading.stale) else {
            return;
        };
        let path = self.dir.join(heapsnap_format::live::request_name(pid));
        if self.request.as_ref().is_some_and(|old| *old != path) || stale {
            self.withdraw_request();
        }
        if stale {
            return;
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.file_type().is_file()) {
            self.message = format!(
                "{} is not a regular file: no interval asked",
                path.display()
            );
            return;
        }
        let temp = self.dir.join(format!(".heapsnap-{pid}.interval.watch"));
        let written = std::fs::write(&temp, format!("{}ms\n", interval.as_millis()))
            .and_then(|()| std::fs::rename(&temp, &path));
        match written {
            Ok(()) => self.request = Some(path),
            Err(err) => self.message = format!("cannot ask for dumps every {interval:?}: {err}"),
        }
    }

    /// Removes the request this dashboard wrote.
    fn withdraw_request(&mut self) {
        if let Some(path) = self.request.take()
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file())
        {
            let _ = std::fs::remove_file(path);
        }
    }

    fn write_report(&mut self) {
        let mut options = report::Options::default();
        options.leaks.limit = 0;
        self.message = match report::report(&self.loaded, &options) {
            Ok(report) => {
                match output::file(&self.report_path, |out| render::html::write(&report, out)) {
                    Ok(()) => format!("report written to {}", self.report_path.display()),
                    Err(err) => format!("{err:#}"),
                }
            }
            Err(err) => format!("no report: {err}"),
        };
    }

    fn draw(&self, frame: &mut Frame) {
        let [status, chart, pane, keys] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(7),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        frame.render_widget(Paragraph::new(self.status_lines()), status);
        self.draw_chart(frame, chart);
        self.draw_pane(frame, pane);
        let help = "l leaks  s t f g top by site/type/function/tag  d diff  ↑↓ scroll  space freeze  r report  q quit";
        frame.render_widget(
            Paragraph::new(help).style(Style::default().add_modifier(Modifier::DIM)),
            keys,
        );
    }

    /// The process first (what a narrow terminal must not cut), then the
    /// counts and the directory.
    fn status_lines(&self) -> Vec<Line<'static>> {
        let first = match &self.reading {
            Some(r) => {
                let c = &r.counters;
                let limit = match c.memory_limit {
                    0 => String::new(),
                    limit => format!(
                        " ({:.0}% of {})",
                        c.rss_bytes as f64 * 100.0 / limit as f64,
                        format_bytes(limit)
                    ),
                };
                let state = if r.stale { "process ended" } else { "running" };
                format!(
                    "pid {} {state}  up {}  live {}  RSS {}{limit}",
                    c.pid,
                    format::duration_ms(c.uptime_ms),
                    format_bytes(c.live_bytes),
                    format_bytes(c.rss_bytes),
                )
            }
            None => "no running process keeps live counters here".to_owned(),
        };
        let mut second = format!("snapshots read {}", self.loaded.len());
        if let Some(r) = &self.reading {
            second += &format!(
                "  samples {}  dumps {}",
                r.counters.samples, r.counters.dumps
            );
            // The tags holding most, as `stat --tags` gives them.
            let mut tags: Vec<_> = r.tags.iter().filter(|t| t.live_bytes > 0).collect();
            tags.sort_by_key(|t| std::cmp::Reverse(t.live_bytes));
            let listed: Vec<String> = tags
                .iter()
                .take(3)
                .map(|t| format!("{} {}", t.name, format_bytes(t.live_bytes)))
                .collect();
            if !listed.is_empty() {
                second += &format!("  tags: {}", listed.join(", "));
            }
        }
        if self.frozen {
            second += "  frozen (space: follow)";
        }
        if !self.message.is_empty() {
            second += &format!("  · {}", self.message);
        }
        second += &format!("  · {}", self.dir.display());
        vec![
            Line::styled(first, Style::default().add_modifier(Modifier::BOLD)),
            Line::raw(second),
        ]
    }

    /// The live heap and RSS over time, a reading a second, against the
    /// memory limit: the limit is drawn (a line of dots at its height)
    /// when it is within twice the highest reading, so that a heap far
    /// below its limit still shows its trend.
    fn draw_chart(&self, frame: &mut Frame, area: Rect) {
        // The y axis' labels take about ten columns.
        let width = usize::from(area.width.saturating_sub(12)).max(1);
        let points: Vec<Point> = self
            .history
            .iter()
            .skip(self.history.len().saturating_sub(width))
            .copied()
            .collect();
        let line = |value: fn(&Point) -> u64| -> Vec<(f64, f64)> {
            points
                .iter()
                .enumerate()
                .map(|(x, p)| (x as f64, value(p) as f64))
                .collect()
        };
        let (live, rss) = (line(|p| p.live_bytes), line(|p| p.rss_bytes));
        let highest = points
            .iter()
            .map(|p| p.live_bytes.max(p.rss_bytes))
            .max()
            .unwrap_or(0);
        if points.is_empty() {
            let block = Block::bordered().title(" live heap and RSS ");
            let text = "no readings: no running process keeps live counters here";
            frame.render_widget(Paragraph::new(text).block(block), area);
            return;
        }
        let limit = self.reading.as_ref().map_or(0, |r| r.counters.memory_limit);
        let limit_drawn = limit > 0 && limit <= highest.saturating_mul(2);
        // The limit as the top when drawn (its line the top row).
        let top = if limit_drawn && limit >= highest {
            limit as f64
        } else {
            highest.max(1) as f64 * 1.05
        };
        let right = (width.max(points.len()) as f64 - 1.0).max(1.0);
        let limit_line = [(0.0, limit as f64), (right, limit as f64)];

        let series = |data, look: Look| {
            Dataset::default()
                .marker(look.mark)
                .graph_type(GraphType::Line)
                .style(look.style)
                .data(data)
        };
        let live_look = Look::reading(self.color, (Color::Cyan, "cyan"), (Marker::Braille, "⣿"));
        let mut title = format!(" live heap ({})", live_look.name);
        let mut datasets = vec![series(&live, live_look)];
        if points.iter().any(|p| p.rss_bytes > 0) {
            let rss_look = Look::reading(self.color, (Color::Yellow, "yellow"), (Marker::Bar, "▄"));
            title += &format!(" and RSS ({})", rss_look.name);
            datasets.push(series(&rss, rss_look));
        }
        title += ", a reading a second";
        if limit > 0 {
            title += &format!(", limit {}", format_bytes(limit));
            if limit_drawn {
                let limit_look = Look::level(self.color, (Color::Red, "red dots"));
                title += &format!(" ({})", limit_look.name);
                datasets.push(series(&limit_line, limit_look));
            }
        }
        title += " ";
        let labels = [
            Line::raw("0"),
            Line::raw(format_bytes(top as u64).to_string()),
        ];
        frame.render_widget(
            Chart::new(datasets)
                .block(Block::bordered().title(title))
                .legend_position(None)
                .x_axis(Axis::default().bounds([0.0, right]))
                .y_axis(Axis::default().bounds([0.0, top]).labels(labels)),
            area,
        );
    }

    /// The leak report or the top table, as the commands print them.
    fn draw_pane(&self, frame: &mut Frame, area: Rect) {
        let width = usize::from(area.width.saturating_sub(2));
        style::set(style::Style {
            color: false,
            width: Some(width),
        });
        let (title, text) = match self.view {
            View::Leaks => (" leaks (l) ".to_owned(), self.leaks_text()),
            View::Top(by) => (format!(" top by {} ", by_name(by)), self.top_text(by)),
            View::Diff => (" diff, first to newest (d) ".to_owned(), self.diff_text()),
        };
        let lines: Vec<Line> = text.lines().map(|l| Line::raw(l.to_owned())).collect();
        frame.render_widget(
            Paragraph::new(lines)
                .block(Block::bordered().title(title))
                .scroll((self.scroll, 0)),
            area,
        );
    }

    fn leaks_text(&self) -> String {
        match &self.leaks {
            Ok(report) => text_of(|out| render::text::leaks(report, out)),
            Err(why) => format!("not enough snapshots yet: {why}"),
        }
    }

    /// What grew from the run's first snapshot to its newest, as `heapsnap
    /// diff DIR` prints it: by site and type, with sampling errors.
    fn diff_text(&self) -> String {
        let snapshots = leaks::run_snapshots(&self.loaded, None).unwrap_or_default();
        let (Some(first), Some(newest)) = (snapshots.first(), snapshots.last()) else {
            return "no snapshot yet".into();
        };
        if snapshots.len() < 2 {
            return "one snapshot so far: nothing to compare".into();
        }
        let mut options = diff::Options::default();
        options.limit = 50;
        let report = diff::diff(first, newest, &options);
        text_of(|out| render::text::diff(&report, out))
    }

    fn top_text(&self, by: top::GroupBy) -> String {
        let Ok(snapshots) = leaks::run_snapshots(&self.loaded, None) else {
            return "no snapshot yet".into();
        };
        let Some(newest) = snapshots.last() else {
            return "no snapshot yet".into();
        };
        let mut options = top::Options::default();
        options.by = by;
        options.limit = 50;
        let report = top::top(newest, &options);
        text_of(|out| render::text::top(&report, out))
    }
}

/// How one line of the chart is told apart: by colour when colour is on,
/// else by its mark; and the word the title names it by.
#[derive(Clone, Copy)]
struct Look {
    mark: Marker,
    style: Style,
    name: &'static str,
}

impl Look {
    /// A reading over time: a braille line in colour; without colour, a
    /// line of marks of its own, so that the lines are told apart.
    fn reading(
        color_on: bool,
        color: (Color, &'static str),
        plain: (Marker, &'static str),
    ) -> Look {
        Look::drawn(color_on, (Marker::Braille, color.0, color.1), plain)
    }

    /// A level, not a reading (the limit): dots in either case.
    fn level(color_on: bool, color: (Color, &'static str)) -> Look {
        Look::drawn(
            color_on,
            (Marker::Dot, color.0, color.1),
            (Marker::Dot, "•"),
        )
    }

    fn drawn(
        color_on: bool,
        color: (Marker, Color, &'static str),
        plain: (Marker, &'static str),
    ) -> Look {
        let (mark, style, name) = if color_on {
            (color.0, Style::default().fg(color.1), color.2)
        } else {
            (plain.0, Style::default(), plain.1)
        };
        Look { mark, style, name }
    }
}

fn text_of(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    match write(&mut out) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(err) => err.to_string(),
    }
}

/// Terminating signals (`kill`, `timeout`, a terminal closed): noted by
/// a handler that only sets a flag, so that the dashboard ends and
/// restores the terminal before the process ends as the signal asked.
mod ending {
    use std::time::Duration;

    /// How soon after a signal the dashboard ends.
    pub(super) const LATENCY: Duration = Duration::from_millis(100);

    #[cfg(unix)]
    pub(super) struct Signals {
        received: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    #[cfg(unix)]
    impl Signals {
        /// Waits at most `timeout` for input on the terminal (a signal
        /// ends the wait early). False when the terminal is gone (its
        /// session hung up): noted as the hangup it is.
        pub(super) fn wait_for_input(&self, timeout: Duration) -> bool {
            use rustix::event::{PollFd, PollFlags, Timespec};
            let mut terminal = [PollFd::from_borrowed_fd(
                rustix::stdio::stdin(),
                PollFlags::IN,
            )];
            let timeout = Timespec::try_from(timeout).ok();
            // An interrupted wait (a signal) is a wait that ended.
            let ready = rustix::event::poll(&mut terminal, timeout.as_ref()).unwrap_or(0);
            let gone = PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
            if ready > 0 && terminal[0].revents().intersects(gone) {
                self.received
                    .store(libc::SIGHUP as usize, std::sync::atomic::Ordering::Relaxed);
                return false;
            }
            true
        }
    }

    #[cfg(unix)]
    impl Signals {
        const ENDING: [i32; 4] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT];

        pub(super) fn arm() -> std::io::Result<Signals> {
            let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for signal in Self::ENDING {
                signal_hook::flag::register_usize(signal, received.clone(), signal as usize)?;
            }
            Ok(Signals { received })
        }

        pub(super) fn received(&self) -> bool {
            self.signal() != 0
        }

        fn signal(&self) -> i32 {
            let signal = self.received.load(std::sync::atomic::Ordering::Relaxed);
            i32::try_from(signal).unwrap_or(libc::SIGTERM)
        }

        /// Ends the process as the signal received would have (its
        /// default action), if one was.
        pub(super) fn end_as_received(&self) {
            if self.received() {
                let _ = signal_hook::low_level::emulate_default_handler(self.signal());
            }
        }
    }

    /// Elsewhere the terminal's own keys are all there is.
    #[cfg(not(unix))]
    pub(super) struct Signals;

    #[cfg(not(unix))]
    impl Signals {
        pub(super) fn arm() -> std::io::Result<Signals> {
            Ok(Signals)
        }

        pub(super) fn received(&self) -> bool {
            false
        }

        /// Waits at most `timeout` for input (crossterm's own wait).
        pub(super) fn wait_for_input(&self, timeout: Duration) -> bool {
            let _ = ratatui::crossterm::event::poll(timeout);
            true
        }

        pub(super) fn end_as_received(&self) {}
    }
}

fn by_name(by: top::GroupBy) -> &'static str {
    match by {
        top::GroupBy::Site => "site (s)",
        top::GroupBy::Type => "type (t)",
        top::GroupBy::Function => "function (f)",
        top::GroupBy::Tag => "tag (g)",
    }
}
