//! The pprof endpoint example as an operator would use it: start the
//! server, make it hold something, then read its heap over HTTP with
//! `go tool pprof` (when installed; CI installs it and then requires it)
//! and with the `heapsnap` command from `/debug/heapsnap`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// The example, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the example on a free port; returns it and its address.
fn start() -> (Server, String) {
    let mut child = Command::new(support::example("pprof_endpoint"))
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (Server(child), addr)
}

/// One HTTP/1.1 request; the response's body.
fn request(addr: &str, method: &str, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&response[..split]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    response[split + 4..].to_vec()
}

#[test]
fn the_endpoints_serve_a_pprof_profile_and_a_snapshot() {
    let (_server, addr) = start();
    let opened = request(&addr, "POST", "/sessions?count=200000");
    assert_eq!(String::from_utf8_lossy(&opened), "200000 sessions\n");

    // The snapshot route, read by the heapsnap command.
    let dir = support::scratch("pprof_endpoint");
    let snapshot = dir.join("heap.json");
    std::fs::write(&snapshot, request(&addr, "GET", "/debug/heapsnap")).unwrap();
    let top = support::output_ok(
        Command::new(support::heapsnap_bin())
            .arg("top")
            .arg(&snapshot)
            .args(["--by", "type"]),
    );
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(top.contains("HashMap<u64, Session>"), "{top}");

    // The pprof route, fetched by go tool pprof itself.
    let go_found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !go_found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "go is not installed: .ci/run installs golang-go for this test"
        );
        eprintln!("go tool pprof part skipped: `go` is not installed");
        return;
    }
    let pprof = support::output_ok(
        Command::new("go")
            .args([
                "tool",
                "pprof",
                "-top",
                "-tagfocus=type=HashMap<u64, Session>",
            ])
            .arg(format!("http://{addr}/debug/pprof/heap"))
            .env("HOME", &dir)
            .env("PPROF_TMPDIR", &dir),
    );
    let text = String::from_utf8_lossy(&pprof.stdout);
    assert!(text.contains("Type: inuse_space"), "{text}");
    assert!(text.contains("pprof_endpoint::open_sessions"), "{text}");
}
