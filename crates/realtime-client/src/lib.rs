//! Rust client for the torii-realtime WebSocket protocol v1.
//!
//! [`Client::connect`] opens a socket (with the token in a header, the subprotocol list, the
//! query string, or none, to send `auth` later). Requests get ids and resolve with their one
//! reply, typed by the protocol crate ([`Client::request`] gives the raw JSON for tools);
//! everything else (typed pushes, errors for frames the server could not read, the close)
//! arrives in order through [`Client::next_event`].
//!
//! [`Client`] is one connection: when it ends, the close code tells whether to reconnect
//! ([`realtime_protocol::CloseCode::should_reconnect`]). [`Session`] does that by itself:
//! it reconnects with backoff, subscribes again from the last seq it delivered, and retries
//! publishes with one client message id; it also refreshes its token in band before expiry,
//! so short-lived tokens do not cost a reconnect (see [`session`]).
//!
//! With the `wallet` feature, the `wallet` module signs in with a Starknet account: a
//! `Signer` signs the server's SNIP-12 challenge (`KeySigner` with a Stark private key; a
//! wallet, a remote signer or a hardware device implements the trait), and `wallet_token`
//! makes a token source of it that signs in again only when its token runs short. Bots that
//! connect with development tokens leave the feature off and build without HTTP or curve
//! code.
//!
//! ```no_run
//! # #[cfg(feature = "wallet")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use realtime_client::{Backoff, KeySigner, Session, SessionOptions, wallet_token};
//!
//! let signer = KeySigner::from_hex("0x64b4…", "0x71d7…")?;
//! let session = Session::start(SessionOptions {
//!     url: "wss://chat.example.com/v1/ws".into(),
//!     token: wallet_token("https://chat.example.com", signer),
//!     backoff: Backoff::default(),
//! });
//! # Ok(())
//! # }
//! ```

pub mod session;
#[cfg(feature = "wallet")]
pub mod wallet;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
pub use realtime_protocol::notes::{
    NoteData, NoteDeleted, NoteEvent, NoteEventKind, NoteOk, NotesPage, NotesRevoked,
};
pub use realtime_protocol::push::{
    DmStarted, EntityUpdate, FeedReset, PermissionRevoked, Push, ReadMark, TileXY, TokenExpired,
    Typing,
};
use realtime_protocol::reply::decode_server_frame;
pub use realtime_protocol::reply::{
    Connected, Empty, HistoryPage, MessageData, NotRecovered, PublishOk, RefreshOk, SubscribeOk,
    TypingOk, UnsubscribeOk, WatchOk,
};
pub use realtime_protocol::request::Area;
pub use realtime_protocol::social::{
    BlockList, BlockOk, Blocked, GroupRef, MeOk, NamesOk, PresenceChange, PresenceSnapshot, ReadOk,
    ThreadItem, ThreadsPage, UnreadItem, UnreadList,
};
use realtime_protocol::{BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL, ServerFrame};
pub use realtime_protocol::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use session::{
    Backoff, Session, SessionEvent, SessionHandle, SessionOptions, TokenSource, fixed_token,
};
#[cfg(feature = "wallet")]
pub use wallet::{
    KeySigner, SignInError, SignedIn, Signer, WalletTokenOptions, sign_in, wallet_token,
    wallet_token_with,
};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Result<Value, ErrorBody>>>>>;

/// How long a request waits for its reply.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Events buffered before the reader stops reading the socket.
pub(crate) const EVENT_BUFFER: usize = 65_536;

/// How to present the session token when connecting.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No token: send [`Client::auth`] after connecting.
    None,
    /// `Authorization: Bearer …` header.
    Header(String),
    /// `Sec-WebSocket-Protocol: realtime.v1, bearer.…`, as browsers do.
    Subprotocol(String),
    /// `?token=…` in the URL.
    Query(String),
}

/// Which page of history to read (see the protocol's `history` op).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub limit: Option<u32>,
}

/// The close frame the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    pub code: u16,
    pub reason: String,
}

/// Something that arrived other than a reply to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Push(Push),
    /// A push this client knows whose content it could not read, with why.
    Invalid(String),
    /// An error reply with no id: the server could not read a frame we sent.
    Error(ErrorBody),
    /// The connection ended; `None` when it ended without a close frame.
    Closed(Option<CloseInfo>),
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the server answered with an error: {0:?}")]
    Server(ErrorBody),
    #[error("the connection is closed")]
    Closed,
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("the reply is not what the protocol says: {0}")]
    Reply(serde_json::Error),
}

impl ClientError {
    /// The server's error code, when the server refused the request.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server(e) => Some(e.code),
            _ => None,
        }
    }
}

/// A connected client.
#[derive(Debug)]
pub struct Client {
    sink: Mutex<SplitSink<Socket, Message>>,
    pending: Pending,
    events: mpsc::Receiver<Event>,
    next_id: AtomicU64,
}

impl Client {
    /// Connects to `url` (`ws://host:port/v1/ws`).
    pub async fn connect(url: &str, auth: Auth) -> Result<Self, ClientError> {
        let mut target = url.to_owned();
        if let Auth::Query(token) = &auth {
            let sep = if target.contains('?') { '&' } else { '?' };
            target = format!("{target}{sep}token={token}");
        }
        let mut request = target.into_client_request()?;
        let headers = request.headers_mut();
        let header =
            |v: String| HeaderValue::from_str(&v).map_err(|e| ClientError::Invalid(e.to_string()));
        match &auth {
            Auth::Header(token) => {
                headers.insert("authorization", header(format!("Bearer {token}"))?);
                headers.insert("sec-websocket-protocol", header(SUBPROTOCOL.into())?);
            }
            Auth::Subprotocol(token) => {
                headers.insert(
                    "sec-websocket-protocol",
                    header(format!("{SUBPROTOCOL}, {BEARER_SUBPROTOCOL_PREFIX}{token}"))?,
                );
            }
            Auth::None | Auth::Query(_) => {
                headers.insert("sec-websocket-protocol", header(SUBPROTOCOL.into())?);
            }
        }
        let (socket, _response) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self::from_socket(socket))
    }

    fn from_socket(socket: Socket) -> Self {
        let (sink, stream) = socket.split();
        let pending: Pending = Arc::default();
        let (tx, events) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(read(stream, pending.clone(), tx));
        Self {
            sink: Mutex::new(sink),
            pending,
            events,
            next_id: AtomicU64::new(1),
        }
    }

    /// Takes the event stream, for a task that reads it while others send requests through
    /// a shared `&Client`; [`Client::next_event`] then returns nothing.
    pub fn take_events(&mut self) -> mpsc::Receiver<Event> {
        std::mem::replace(&mut self.events, mpsc::channel(1).1)
    }

    /// Sends `{"id": …, "op": op, …args}` and waits for its reply.
    pub async fn request(&self, op: &str, args: Value) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut frame = match args {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(ClientError::Invalid(format!(
                    "args must be an object: {other}"
                )));
            }
        };
        frame.insert("id".into(), id.into());
        frame.insert("op".into(), op.into());
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        self.send_raw(Value::Object(frame).to_string()).await?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(ClientError::Server(e)),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout(REQUEST_TIMEOUT)),
        }
    }

    /// Sends a text frame as is (for tools and tests of bad input).
    pub async fn send_raw(&self, text: String) -> Result<(), ClientError> {
        self.sink
            .lock()
            .await
            .send(Message::text(text))
            .await
            .map_err(ClientError::from)
    }

    /// Sends a frame that is not text.
    pub async fn send_message(&self, message: Message) -> Result<(), ClientError> {
        self.sink
            .lock()
            .await
            .send(message)
            .await
            .map_err(ClientError::from)
    }

    /// A request whose reply has the protocol's type `T`.
    async fn call<T: DeserializeOwned>(&self, op: &str, args: Value) -> Result<T, ClientError> {
        serde_json::from_value(self.request(op, args).await?).map_err(ClientError::Reply)
    }

    /// Signs in a socket opened without a token.
    pub async fn auth(&self, token: &str) -> Result<Connected, ClientError> {
        self.call("auth", serde_json::json!({ "token": token }))
            .await
    }

    /// Moves the session's expiry with a newer token for the same address.
    pub async fn refresh(&self, token: &str) -> Result<RefreshOk, ClientError> {
        self.call("refresh", serde_json::json!({ "token": token }))
            .await
    }

    /// Subscribes; with `since`, the messages after it are replayed first.
    pub async fn subscribe(
        &self,
        channel: &str,
        since: Option<u64>,
    ) -> Result<SubscribeOk, ClientError> {
        let mut args = serde_json::json!({ "channel": channel });
        if let Some(s) = since {
            args["since"] = s.into();
        }
        self.call("subscribe", args).await
    }

    /// Subscribes asking for presence: the reply carries who is there, and
    /// `presence_change` pushes follow.
    pub async fn subscribe_with_presence(
        &self,
        channel: &str,
        since: Option<u64>,
    ) -> Result<SubscribeOk, ClientError> {
        let mut args = serde_json::json!({ "channel": channel, "presence": true });
        if let Some(s) = since {
            args["since"] = s.into();
        }
        self.call("subscribe", args).await
    }

    /// Who is present in `channel`.
    pub async fn presence(&self, channel: &str) -> Result<PresenceSnapshot, ClientError> {
        self.call("presence", serde_json::json!({ "channel": channel }))
            .await
    }

    pub async fn unsubscribe(&self, channel: &str) -> Result<UnsubscribeOk, ClientError> {
        self.call("unsubscribe", serde_json::json!({ "channel": channel }))
            .await
    }

    /// Publishes; a retry with the same `client_msg_id` returns the stored message.
    pub async fn publish(
        &self,
        channel: &str,
        body: &str,
        client_msg_id: &str,
    ) -> Result<PublishOk, ClientError> {
        self.call(
            "publish",
            serde_json::json!({ "channel": channel, "body": body, "client_msg_id": client_msg_id }),
        )
        .await
    }

    /// A page of stored messages.
    pub async fn history(&self, channel: &str, page: History) -> Result<HistoryPage, ClientError> {
        let mut args = Map::new();
        args.insert("channel".into(), channel.into());
        if let Some(b) = page.before {
            args.insert("before".into(), b.into());
        }
        if let Some(a) = page.after {
            args.insert("after".into(), a.into());
        }
        if let Some(l) = page.limit {
            args.insert("limit".into(), l.into());
        }
        self.call("history", Value::Object(args)).await
    }

    /// Sets which on-chain updates arrive: inside `area`, and/or of the address's own
    /// entities.
    pub async fn watch(&self, area: Option<Area>, mine: bool) -> Result<WatchOk, ClientError> {
        let mut args = serde_json::json!({ "mine": mine });
        if let Some(a) = area {
            args["area"] = serde_json::to_value(a).map_err(ClientError::Reply)?;
        }
        self.call("watch", args).await
    }

    /// Tells the channel's other subscribers that this address is typing.
    pub async fn typing(&self, channel: &str) -> Result<TypingOk, ClientError> {
        self.call("typing", serde_json::json!({ "channel": channel }))
            .await
    }

    /// A page of this address's direct-message threads; `before` is the previous page's
    /// `next`.
    pub async fn threads(
        &self,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ThreadsPage, ClientError> {
        let mut args = Map::new();
        if let Some(b) = before {
            args.insert("before".into(), b.into());
        }
        if let Some(l) = limit {
            args.insert("limit".into(), l.into());
        }
        self.call("threads", Value::Object(args)).await
    }

    /// Stops `address` from writing direct messages to this address.
    pub async fn block(&self, address: &str) -> Result<BlockOk, ClientError> {
        self.call("block", serde_json::json!({ "address": address }))
            .await
    }

    pub async fn unblock(&self, address: &str) -> Result<BlockOk, ClientError> {
        self.call("unblock", serde_json::json!({ "address": address }))
            .await
    }

    /// The addresses this address blocks.
    pub async fn blocks(&self) -> Result<BlockList, ClientError> {
        self.call("blocks", Value::Null).await
    }

    /// Marks `channel` read up to `seq`.
    pub async fn read(&self, channel: &str, seq: u64) -> Result<ReadOk, ClientError> {
        self.call(
            "read",
            serde_json::json!({ "channel": channel, "seq": seq }),
        )
        .await
    }

    /// Unread counts of every channel read before and every thread.
    pub async fn unread(&self) -> Result<UnreadList, ClientError> {
        self.call("unread", Value::Null).await
    }

    /// Who this session is on chain: its name, player status and group channels.
    pub async fn me(&self) -> Result<MeOk, ClientError> {
        self.call("me", Value::Null).await
    }

    /// The `[players] name` of up to 100 addresses (those without one are left out).
    pub async fn names(&self, addresses: &[&str]) -> Result<NamesOk, ClientError> {
        self.call("names", serde_json::json!({ "addresses": addresses }))
            .await
    }

    pub async fn ping(&self) -> Result<Empty, ClientError> {
        self.call("ping", Value::Null).await
    }

    /// The next push, error or close, waiting up to `timeout`.
    pub async fn next_event_within(&mut self, timeout: Duration) -> Option<Event> {
        tokio::time::timeout(timeout, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next push, error or close; `None` after the close was delivered.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Sends a close frame.
    pub async fn close(&self) -> Result<(), ClientError> {
        self.sink
            .lock()
            .await
            .send(Message::Close(None))
            .await
            .map_err(ClientError::from)
    }
}

async fn read(mut stream: SplitStream<Socket>, pending: Pending, events: mpsc::Sender<Event>) {
    let mut close = None;
    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(frame)) => {
                close = frame.map(|f| CloseInfo {
                    code: f.code.into(),
                    reason: f.reason.to_string(),
                });
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        };
        let event = match decode_server_frame(text.as_str()) {
            Ok(ServerFrame::Reply {
                id: Some(id),
                result,
            }) => {
                let waiter = pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(result);
                }
                continue;
            }
            Ok(ServerFrame::Reply { id: None, result }) => match result {
                Err(e) => Event::Error(e),
                Ok(_) => continue,
            },
            Ok(ServerFrame::Push {
                push,
                channel,
                seq,
                data,
            }) => match Push::decode(push.clone(), channel, seq, data) {
                Ok(p) => Event::Push(p),
                Err(e) => Event::Invalid(format!("{push}: {e}")),
            },
            Err(_) => continue,
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
    pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let _ = events.send(Event::Closed(close)).await;
}
