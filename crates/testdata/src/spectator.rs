//! A fake Slippi Dolphin spectator server on loopback, speaking the real protocol over real
//! ENet (FORMATS §2): it answers `connect_request` with `connect_reply`, then sends its
//! planned messages as Dolphin does — `game_event` with base64 event bytes and a cursor chain,
//! `menu_event`, `start_game`, `end_game`. Written independently of exphil's client so the
//! tests check one against the other.

use base64::Engine;
use rusty_enet as enet;
use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One planned message.
#[derive(Clone, Debug)]
pub enum Send {
    /// Raw event bytes as a `game_event` (the next cursor).
    Events(Vec<u8>),
    /// A `menu_event` with this block.
    Menu(Vec<u8>),
    /// Any JSON message as is.
    Json(serde_json::Value),
    /// Bytes sent as they are (not JSON), taking one cursor.
    Raw(Vec<u8>),
    /// Skip one cursor without sending (the client misses an event).
    Gap,
    /// Disconnect the client (as a Dolphin that closes).
    Disconnect,
    /// Wait before the next message.
    Pause(Duration),
}

/// What the server saw.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The cursor the client asked for.
    pub requested_cursor: Option<u64>,
    /// Messages sent.
    pub sent: usize,
    /// Whether the client disconnected (rather than the server timing out).
    pub client_disconnected: bool,
}

/// A running fake server.
pub struct SpectatorServer {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: JoinHandle<Report>,
}

impl SpectatorServer {
    /// Starts a server on 127.0.0.1 (a free port) that sends `plan` to its first client,
    /// starting its cursors at `first_cursor`, paced `per_message` apart, then waits up to
    /// `linger` for the client to disconnect.
    pub fn start(
        plan: Vec<Send>,
        first_cursor: u64,
        per_message: Duration,
        linger: Duration,
    ) -> SpectatorServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        let addr = socket.local_addr().expect("local address");
        let handle = std::thread::spawn(move || {
            let mut host = enet::Host::new(
                socket,
                enet::HostSettings {
                    peer_limit: 4,
                    channel_limit: 1,
                    ..Default::default()
                },
            )
            .expect("ENet host");
            let mut report = Report::default();
            let deadline = Instant::now() + Duration::from_secs(60);
            // Wait for a client and its connect_request.
            let peer = loop {
                assert!(
                    Instant::now() < deadline,
                    "no client connected to the fake server"
                );
                match host.service().expect("service") {
                    Some(enet::Event::Receive { peer, packet, .. }) => {
                        let v: serde_json::Value =
                            serde_json::from_slice(packet.data()).expect("client JSON");
                        if v["type"] == "connect_request" {
                            report.requested_cursor = v["cursor"].as_u64();
                            break peer.id();
                        }
                    }
                    Some(_) => {}
                    None => std::thread::sleep(Duration::from_micros(200)),
                }
            };
            let send = |host: &mut enet::Host<UdpSocket>, v: serde_json::Value| {
                host.peer_mut(peer)
                    .send(0, &enet::Packet::reliable(v.to_string().as_bytes()))
                    .expect("send");
            };
            send(
                &mut host,
                serde_json::json!({"type": "connect_reply", "nick": "fake-dolphin",
                    "version": "3.4.0-fake", "cursor": first_cursor}),
            );
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let mut cursor = first_cursor;
            for item in plan {
                let msg = match item {
                    Send::Events(bytes) => {
                        let v = serde_json::json!({"type": "game_event", "cursor": cursor,
                            "next_cursor": cursor + 1, "payload": b64(&bytes)});
                        cursor += 1;
                        v
                    }
                    Send::Menu(bytes) => {
                        serde_json::json!({"type": "menu_event", "payload": b64(&bytes)})
                    }
                    Send::Json(v) => v,
                    Send::Raw(bytes) => {
                        host.peer_mut(peer)
                            .send(0, &enet::Packet::reliable(bytes.as_slice()))
                            .expect("send");
                        cursor += 1;
                        report.sent += 1;
                        continue;
                    }
                    Send::Disconnect => {
                        host.peer_mut(peer).disconnect_later(0);
                        let end = Instant::now() + Duration::from_secs(2);
                        while Instant::now() < end {
                            let _ = host.service();
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        return report;
                    }
                    Send::Gap => {
                        cursor += 1;
                        continue;
                    }
                    Send::Pause(d) => {
                        let end = Instant::now() + d;
                        while Instant::now() < end {
                            let _ = host.service();
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        continue;
                    }
                };
                send(&mut host, msg);
                report.sent += 1;
                host.flush();
                let end = Instant::now() + per_message;
                loop {
                    if let Ok(Some(enet::Event::Disconnect { .. })) = host.service() {
                        report.client_disconnected = true;
                        return report;
                    }
                    if Instant::now() >= end {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            let end = Instant::now() + linger;
            while Instant::now() < end {
                match host.service() {
                    Ok(Some(enet::Event::Disconnect { .. })) => {
                        report.client_disconnected = true;
                        break;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => std::thread::sleep(Duration::from_micros(200)),
                    Err(_) => break,
                }
            }
            report
        });
        SpectatorServer { addr, handle }
    }

    /// Waits for the server to finish and returns what it saw.
    pub fn join(self) -> Report {
        self.handle.join().expect("fake server thread")
    }
}

/// A replay's raw event bytes split into messages the way Dolphin's spectator server flushes
/// them: after Game Start (with Event Payloads in front), Frame Bookend, Game End and Message
/// Splitter — so one message is about one frame.
pub fn event_messages(slp: &[u8]) -> Vec<Vec<u8>> {
    let len = u32::from_be_bytes([slp[11], slp[12], slp[13], slp[14]]) as usize;
    let raw = &slp[15..15 + len];
    assert_eq!(raw[0], 0x35, "raw stream starts with Event Payloads");
    let mut sizes = [0usize; 256];
    let n = raw[1] as usize;
    sizes[0x35] = n;
    for e in raw[2..1 + n].chunks(3) {
        sizes[e[0] as usize] = u16::from_be_bytes([e[1], e[2]]) as usize;
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < raw.len() {
        let code = raw[at];
        at += 1 + sizes[code as usize];
        if matches!(code, 0x36 | 0x3C | 0x39 | 0x10) || at >= raw.len() {
            out.push(raw[start..at.min(raw.len())].to_vec());
            start = at;
        }
    }
    out
}

/// A test pipe reader: reads the FIFO at `path` on a thread until its writer closes it, and
/// returns the controller command batches (each ending with `FLUSH`). Panics on lines after the
/// last `FLUSH`.
pub fn read_fifo_batches(path: std::path::PathBuf) -> JoinHandle<Vec<Vec<String>>> {
    use std::io::BufRead;
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open the FIFO for reading");
        let mut batches = Vec::new();
        let mut cur = Vec::new();
        for line in std::io::BufReader::new(f).lines() {
            let line = line.expect("line");
            let end = line == "FLUSH";
            cur.push(line);
            if end {
                batches.push(std::mem::take(&mut cur));
            }
        }
        assert!(cur.is_empty(), "lines after the last FLUSH: {cur:?}");
        batches
    })
}
