//! A chat server's room registry: `BTreeMap<String, HashMap<u64, Member>>`,
//! room then connection. Joining adds the member to its room; leaving
//! looks the room up by the name the connection carries, which a rename
//! feature rewrites to its display form first (`Room 7` for `room-7`), so
//! half the leaves find no room and the member stays, with its profile and
//! send buffer. Fixed: the leave uses the room's id.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use heapsnap_field::{Args, drain, load, report, runtime, serve};

struct Member {
    name: String,
    addr: String,
    send_buffer: Vec<u8>,
}

#[derive(Default)]
struct Rooms {
    rooms: Mutex<BTreeMap<String, HashMap<u64, Member>>>,
}

impl Rooms {
    fn join(&self, room: String, conn: u64, member: Member) {
        self.rooms
            .lock()
            .unwrap()
            .entry(room)
            .or_default()
            .insert(conn, member);
    }

    fn leave(&self, room: &str, conn: u64) -> bool {
        let mut rooms = self.rooms.lock().unwrap();
        rooms
            .get_mut(room)
            .and_then(|members| members.remove(&conn))
            .is_some()
    }
}

fn display_name(room: &str) -> String {
    room.replacen("room-", "Room ", 1)
}

struct App {
    rooms: Rooms,
    fixed: bool,
}

async fn join(State(app): State<Arc<App>>, Path((room, conn)): Path<(String, u64)>) {
    let member = Member {
        name: format!("guest-{conn}"),
        addr: format!("192.0.2.{}:{}", conn % 250, 40000 + conn % 20000),
        send_buffer: vec![(conn % 250 + 1) as u8; 2048],
    };
    app.rooms.join(room, conn, member);
}

async fn leave(State(app): State<Arc<App>>, Path((room, conn)): Path<(String, u64)>) {
    // The bug: half the connections were renamed to the display form.
    let name = if !app.fixed && conn % 2 == 0 {
        display_name(&room)
    } else {
        room
    };
    app.rooms.leave(&name, conn);
}

fn main() {
    let args = Args::parse(1200);
    runtime().block_on(async {
        let app = Arc::new(App {
            rooms: Rooms::default(),
            fixed: args.fixed,
        });
        let router = Router::new()
            .route("/join/{room}/{conn}", post(join))
            .route("/leave/{room}/{conn}", post(leave))
            .with_state(Arc::clone(&app));
        let addr = serve(router).await;
        load(&args, 8, move |client, n, mut rng| async move {
            let room = format!("room-{}", rng.below(40));
            let _ = client
                .post(format!("http://{addr}/join/{room}/{n}"))
                .send()
                .await;
            let _ = client
                .post(format!("http://{addr}/leave/{room}/{n}"))
                .send()
                .await;
        })
        .await;
        let leaked: u64 = {
            let rooms = app.rooms.rooms.lock().unwrap();
            rooms
                .values()
                .flat_map(HashMap::values)
                .map(|m| (m.send_buffer.capacity() + m.name.len() + m.addr.len() + 48) as u64)
                .sum()
        };
        drain(&args, 10, |_| {
            let mut rooms = app.rooms.rooms.lock().unwrap();
            let names: Vec<String> = rooms.keys().take(5).cloned().collect();
            for name in names {
                rooms.remove(&name);
            }
        })
        .await;
        report(leaked);
    });
}
