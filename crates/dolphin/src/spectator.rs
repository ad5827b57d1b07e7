//! The Slippi spectator stream (FORMATS §2): an ENet client of Dolphin's spectator server,
//! JSON messages on channel 0 with base64 `.slp` event bytes, and the cursor that orders them.

use base64::Engine;
use rusty_enet as enet;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Dolphin's default spectator port (`SlippiSpectatorLocalPort`).
pub const DEFAULT_PORT: u16 = 51441;
/// The largest message accepted (a Game Start with its Gecko code list is tens of KiB).
pub const MAX_MESSAGE: usize = 8 << 20;
/// The `data` word sent with the ENet connect (Dolphin ignores it).
const CONNECT_DATA: u32 = 1337;

/// A spectator-stream failure.
#[derive(Debug, thiserror::Error)]
pub enum SpectatorError {
    /// The socket failed.
    #[error("spectator socket: {0}")]
    Io(#[from] std::io::Error),
    /// No connection within the time allowed.
    #[error("no spectator server answered at {addr} within {secs:.1} s (is Dolphin running with the spectator server on?)")]
    ConnectTimeout {
        /// Where.
        addr: SocketAddr,
        /// How long was waited.
        secs: f64,
    },
    /// The server went away.
    #[error("the spectator server at {0} disconnected")]
    Disconnected(SocketAddr),
    /// A message that is not the protocol.
    #[error("bad spectator message: {0}")]
    Bad(String),
}

/// One message of the spectator stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// The answer to `connect_request`.
    ConnectReply {
        /// The server's nickname.
        nick: String,
        /// Its version string.
        version: String,
        /// The cursor the stream continues from.
        cursor: u64,
    },
    /// Raw `.slp` event bytes.
    GameEvent {
        /// This message's cursor.
        cursor: u64,
        /// The cursor of the next message.
        next_cursor: u64,
        /// The event bytes.
        payload: Vec<u8>,
    },
    /// A menu block (starts with 0x3E).
    MenuEvent(Vec<u8>),
    /// A game is starting (players with their connect codes).
    StartGame(serde_json::Value),
    /// A game ended.
    EndGame(serde_json::Value),
    /// A message type this client does not use.
    Other(String),
    /// A message that could not be read (why); the stream goes on.
    Invalid(String),
}

fn field_u64(v: &serde_json::Value, key: &str) -> Result<u64, SpectatorError> {
    v.get(key)
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| SpectatorError::Bad(format!("{} without a numeric {key:?}", v["type"])))
}

fn field_bytes(v: &serde_json::Value, key: &str) -> Result<Vec<u8>, SpectatorError> {
    let s = v
        .get(key)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| SpectatorError::Bad(format!("{} without a {key:?} string", v["type"])))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| SpectatorError::Bad(format!("{}: {key} is not base64: {e}", v["type"])))
}

impl Message {
    /// Parses one message (a JSON object with a `type`).
    pub fn parse(bytes: &[u8]) -> Result<Message, SpectatorError> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| SpectatorError::Bad(format!("not JSON ({} bytes): {e}", bytes.len())))?;
        let kind = v
            .get("type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| SpectatorError::Bad("a message without a \"type\"".into()))?;
        Ok(match kind {
            "connect_reply" => Message::ConnectReply {
                nick: v["nick"].as_str().unwrap_or_default().to_string(),
                version: v["version"].as_str().unwrap_or_default().to_string(),
                cursor: field_u64(&v, "cursor")?,
            },
            "game_event" => Message::GameEvent {
                cursor: field_u64(&v, "cursor")?,
                next_cursor: field_u64(&v, "next_cursor")?,
                payload: field_bytes(&v, "payload")?,
            },
            "menu_event" => Message::MenuEvent(field_bytes(&v, "payload")?),
            "start_game" => Message::StartGame(v),
            "end_game" => Message::EndGame(v),
            other => Message::Other(other.to_string()),
        })
    }
}

/// The JSON of a `connect_request` from `cursor` (0: from the start).
pub fn connect_request(cursor: u64) -> Vec<u8> {
    serde_json::json!({"type": "connect_request", "cursor": cursor})
        .to_string()
        .into_bytes()
}

/// Waits until `socket` is readable or `timeout` passes.
fn wait_readable(socket: &UdpSocket, timeout: Duration) {
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe {
        libc::poll(&mut fd, 1, ms);
    }
}

/// A connected spectator client.
pub struct SpectatorClient {
    host: enet::Host<UdpSocket>,
    peer: enet::PeerID,
    addr: SocketAddr,
    /// The cursor expected next (`None` until the first game event).
    expected: Option<u64>,
    /// Game events whose cursor was not the one expected (events were missed).
    pub gaps: u64,
    /// Messages that could not be read.
    pub invalid: u64,
    /// The server's nickname and version, from `connect_reply`.
    pub server: (String, String),
}

impl SpectatorClient {
    /// Connects to the spectator server at `addr` and asks for the stream from `cursor`,
    /// waiting up to `timeout` for the connection and the reply.
    pub fn connect(
        addr: SocketAddr,
        cursor: u64,
        timeout: Duration,
    ) -> Result<SpectatorClient, SpectatorError> {
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("address")
        } else {
            "[::]:0".parse().expect("address")
        };
        let socket = UdpSocket::bind(bind)?;
        let mut host = enet::Host::new(
            socket,
            enet::HostSettings {
                peer_limit: 1,
                channel_limit: 1,
                ..Default::default()
            },
        )
        .map_err(|e| SpectatorError::Bad(format!("creating the ENet host: {e:?}")))?;
        host.set_maximum_packet_size(MAX_MESSAGE)
            .map_err(|e| SpectatorError::Bad(format!("{e:?}")))?;
        let peer = host
            .connect(addr, 1, CONNECT_DATA)
            .map_err(|_| SpectatorError::Bad("no free ENet peer".into()))?
            .id();
        let mut client = SpectatorClient {
            host,
            peer,
            addr,
            expected: None,
            gaps: 0,
            invalid: 0,
            server: Default::default(),
        };
        let end = Instant::now() + timeout;
        let timed_out = || SpectatorError::ConnectTimeout {
            addr,
            secs: timeout.as_secs_f64(),
        };
        // The ENet handshake.
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            match client.host.service()? {
                Some(enet::Event::Connect { .. }) => break,
                Some(enet::Event::Disconnect { .. }) => {
                    // Refused (nothing listening answers with silence; a full server resets).
                    return Err(SpectatorError::Disconnected(addr));
                }
                Some(enet::Event::Receive { .. }) => {}
                None => wait_readable(client.host.socket(), left.min(Duration::from_millis(5))),
            }
        }
        client.send(&connect_request(cursor))?;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            if let Some(Message::ConnectReply {
                nick,
                version,
                cursor,
            }) = client.recv(left)?
            {
                client.server = (nick, version);
                client.expected = Some(cursor);
                return Ok(client);
            }
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), SpectatorError> {
        self.host
            .peer_mut(self.peer)
            .send(0, &enet::Packet::reliable(bytes))
            .map_err(|e| SpectatorError::Bad(format!("sending: {e:?}")))?;
        self.host.flush();
        Ok(())
    }

    /// The next message, waiting up to `timeout` (`Ok(None)`: none arrived). A game event whose
    /// cursor is not the one expected counts in [`SpectatorClient::gaps`]; the stream continues
    /// from its `next_cursor`. A message that cannot be read comes back as
    /// [`Message::Invalid`]. `Err`: the socket failed or the server disconnected.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, SpectatorError> {
        let end = Instant::now() + timeout;
        loop {
            match self.host.service()? {
                // Dolphin sends an empty packet at the end of a game.
                Some(enet::Event::Receive { packet, .. }) if packet.data().is_empty() => {}
                Some(enet::Event::Receive { packet, .. }) => {
                    // A bad message is reported, not fatal; if it was a game event, the next
                    // one's cursor shows the gap.
                    let m = match Message::parse(packet.data()) {
                        Ok(m) => m,
                        Err(e) => {
                            self.invalid += 1;
                            let why = match e {
                                SpectatorError::Bad(why) => why,
                                e => e.to_string(),
                            };
                            return Ok(Some(Message::Invalid(why)));
                        }
                    };
                    if let Message::GameEvent {
                        cursor,
                        next_cursor,
                        ..
                    } = &m
                    {
                        if self.expected.is_some_and(|e| e != *cursor) {
                            self.gaps += 1;
                        }
                        self.expected = Some(*next_cursor);
                    }
                    return Ok(Some(m));
                }
                Some(enet::Event::Disconnect { .. }) => {
                    return Err(SpectatorError::Disconnected(self.addr))
                }
                Some(enet::Event::Connect { .. }) => {}
                None => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    // Wake at least every 5 ms to keep ENet's acknowledgements flowing.
                    wait_readable(self.host.socket(), left.min(Duration::from_millis(5)));
                }
            }
        }
    }

    /// Disconnects politely (the server frees the slot at once).
    pub fn close(mut self) {
        self.host.peer_mut(self.peer).disconnect(0);
        let end = Instant::now() + Duration::from_millis(200);
        while Instant::now() < end {
            match self.host.service() {
                Ok(Some(enet::Event::Disconnect { .. })) | Err(_) => break,
                Ok(_) => wait_readable(self.host.socket(), Duration::from_millis(5)),
            }
        }
    }
}
