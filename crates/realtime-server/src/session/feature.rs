//! What the session core offers features, and the registry it dispatches through. The core
//! owns the socket, the reader and writer, the send queue, the heartbeat, sign-in (`auth`,
//! `refresh`, `ping`) and paced replays; every other op belongs to a feature, which
//! registers its op names and HTTP routes once at start and gets its own state on each
//! connection. The core knows no feature: it decodes a request, checks that the socket is
//! signed in, and hands the op to the feature that registered it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use realtime_auth::Identity;
use realtime_core::Address;
use realtime_protocol::reply::{encode_error, encode_ok};
use realtime_protocol::{ErrorBody, Op};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::replay::Replay;
use crate::hub::ConnId;
use crate::queue::SendQueue;
use crate::state::App;

/// A boxed future borrowing from the feature state and the connection.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A user-facing feature: the ops it answers and the routes it serves.
pub trait Feature: Send + Sync + 'static {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// The wire names of the ops it answers.
    fn ops(&self) -> &'static [&'static str];
    /// Its HTTP routes.
    fn routes(&self) -> Router<App> {
        Router::new()
    }
    /// Its state on a new connection.
    fn connect(&self, app: &App) -> Box<dyn FeatureConn>;
}

/// A feature's state on one connection.
pub trait FeatureConn: Send + Sync {
    /// Runs one of the feature's ops. An error is sent as the reply.
    fn handle<'a>(
        &'a mut self,
        conn: Conn<'a>,
        id: u64,
        op: Op,
    ) -> BoxFuture<'a, Result<(), ErrorBody>>;
    /// On-chain state changed what the signed-in address may do: drop what it lost.
    fn recheck(&mut self, _conn: Conn<'_>) {}
    /// The connection (signed in as `who`, if it did) is ending, or its task died: stop
    /// routing anything to it. May run twice.
    fn leave(&mut self, _app: &App, _id: ConnId, _who: Option<Address>) {}
}

/// How a feature whose ops keep nothing on the connection answers one.
pub trait Handler:
    for<'a> Fn(Conn<'a>, u64, Op) -> BoxFuture<'a, Result<(), ErrorBody>> + Send + Sync + 'static
{
}

impl<F> Handler for F where
    F: for<'a> Fn(Conn<'a>, u64, Op) -> BoxFuture<'a, Result<(), ErrorBody>>
        + Send
        + Sync
        + 'static
{
}

/// The connection state of a feature that keeps none: every op goes to its handler. Given a
/// function item (`Stateless(handle)`), it is zero-sized, so a connection pays no allocation
/// for it.
#[derive(Debug, Clone, Copy)]
pub struct Stateless<F>(pub F);

impl<F: Handler> FeatureConn for Stateless<F> {
    fn handle<'a>(
        &'a mut self,
        conn: Conn<'a>,
        id: u64,
        op: Op,
    ) -> BoxFuture<'a, Result<(), ErrorBody>> {
        (self.0)(conn, id, op)
    }
}

/// The answer of a feature handed an op it did not register: a bug in the registry, never
/// the client's doing.
pub fn not_registered(feature: &str, op: &Op) -> ErrorBody {
    ErrorBody::new(
        realtime_core::ErrorCode::Internal,
        format!("{feature} does not answer {}", op.name()),
    )
}

/// What a feature sees of the connection running its op.
pub struct Conn<'a> {
    pub app: &'a App,
    pub id: ConnId,
    pub queue: &'a SendQueue,
    pub identity: Option<&'a Identity>,
    pub(super) replay: &'a mut Option<Replay>,
    /// The op being handled, for the log line of a refusal.
    pub(super) op: &'static str,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl Conn<'_> {
    /// The signed-in address.
    pub fn address(&self) -> Option<Address> {
        self.identity.map(|i| i.address)
    }

    /// The signed-in address, or the `unauthorized` refusal for ops that need one.
    pub fn signed_in(&self) -> Result<Address, ErrorBody> {
        self.address()
            .ok_or_else(|| ErrorBody::new(realtime_core::ErrorCode::Unauthorized, "sign in first"))
    }

    /// Queues a frame. On overflow the queue closes the connection as a slow consumer.
    pub fn send(&self, text: String) {
        let _ = self.queue.push(Utf8Bytes::from(text));
    }

    /// Replies `ok` to request `id`.
    pub fn reply_ok<T: Serialize>(&self, id: u64, ok: &T) {
        self.send(encode_ok(id, ok));
    }

    /// Sends an error reply.
    pub fn reply_error(&self, id: Option<u64>, error: &ErrorBody) {
        super::refused(self.op, error);
        self.send(encode_error(id, error));
    }

    /// Starts sending `replay` paced by the client's reading; requests wait until it ends.
    pub fn start_replay(&mut self, replay: Replay) {
        *self.replay = Some(replay);
    }

    /// Drops the replay tagged `tag`, if it runs (what it replays is no longer wanted).
    pub fn cancel_replay(&mut self, tag: &str) {
        if self.replay.as_ref().is_some_and(|r| r.tag == tag) {
            *self.replay = None;
        }
    }
}

/// The features of a server, and which one answers each op.
pub struct Features {
    list: Vec<Arc<dyn Feature>>,
    by_op: HashMap<&'static str, usize>,
}

impl std::fmt::Debug for Features {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.list.iter().map(|f| f.name()).collect();
        f.debug_struct("Features").field("list", &names).finish()
    }
}

/// Ops the session core answers itself.
pub const CORE_OPS: &[&str] = &["auth", "refresh", "ping"];

impl Features {
    /// Registers `list`. Two features answering one op, or a feature taking a core op, is a
    /// bug in the composition: it panics at start.
    pub fn new(list: Vec<Arc<dyn Feature>>) -> Self {
        let mut by_op = HashMap::new();
        for (i, feature) in list.iter().enumerate() {
            for op in feature.ops() {
                assert!(
                    !CORE_OPS.contains(op),
                    "{} takes core op {op}",
                    feature.name()
                );
                if let Some(other) = by_op.insert(*op, i) {
                    panic!(
                        "op {op} is registered by {} and {}",
                        list[other].name(),
                        feature.name()
                    );
                }
            }
        }
        Self { list, by_op }
    }

    /// Every feature's state for a new connection, in registration order.
    pub(super) fn connect(&self, app: &App) -> Vec<Box<dyn FeatureConn>> {
        self.list.iter().map(|f| f.connect(app)).collect()
    }

    /// The index of the feature answering `op`.
    pub(super) fn feature_of(&self, op: &str) -> Option<usize> {
        self.by_op.get(op).copied()
    }

    /// Every feature's routes, merged.
    pub fn routes(&self) -> Router<App> {
        self.list
            .iter()
            .fold(Router::new(), |router, f| router.merge(f.routes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(&'static str, &'static [&'static str]);

    struct Nothing;

    impl FeatureConn for Nothing {
        fn handle<'a>(
            &'a mut self,
            _conn: Conn<'a>,
            _id: u64,
            _op: Op,
        ) -> BoxFuture<'a, Result<(), ErrorBody>> {
            Box::pin(async { Ok(()) })
        }
    }

    impl Feature for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn ops(&self) -> &'static [&'static str] {
            self.1
        }
        fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
            Box::new(Nothing)
        }
    }

    #[test]
    fn each_op_goes_to_the_feature_that_registered_it() {
        let features = Features::new(vec![
            Arc::new(Fake("a", &["one", "two"])),
            Arc::new(Fake("b", &["three"])),
        ]);
        assert_eq!(features.feature_of("two"), Some(0));
        assert_eq!(features.feature_of("three"), Some(1));
        assert_eq!(features.feature_of("four"), None);
    }

    #[test]
    #[should_panic(expected = "op two is registered by a and b")]
    fn two_features_cannot_answer_one_op() {
        Features::new(vec![
            Arc::new(Fake("a", &["one", "two"])),
            Arc::new(Fake("b", &["two"])),
        ]);
    }

    #[test]
    #[should_panic(expected = "takes core op auth")]
    fn a_feature_cannot_take_a_core_op() {
        Features::new(vec![Arc::new(Fake("a", &["auth"]))]);
    }
}

#[cfg(test)]
#[test]
fn a_stateless_feature_costs_a_connection_nothing() {
    fn handle<'a>(_: Conn<'a>, _: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
        Box::pin(async move { Err(not_registered("test", &op)) })
    }
    assert_eq!(std::mem::size_of_val(&Stateless(handle)), 0);
}
