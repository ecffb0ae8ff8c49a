//! A fake Torii for tests: a real tonic gRPC server speaking the same `world.World` API,
//! behaving as Torii does where the sidecar depends on it:
//!
//! - the first stream message has no entity and carries a subscription id;
//! - each update carries exactly one model, which may be a full record, the record without
//!   its keys, or a single member; a deletion is the model with no children;
//! - `RetrieveEntities` pages with string cursors, an empty `next_cursor` on the last page;
//! - streams can be dropped, and the server can refuse calls as if restarting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use realtime_core::Address;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::proto::types::{self, Entity};
use crate::proto::world::world_server::{World, WorldServer};
use crate::proto::world::{
    RetrieveEntitiesRequest, RetrieveEntitiesResponse, SubscribeEntitiesRequest,
    SubscribeEntityResponse, WorldsRequest, WorldsResponse,
};
use crate::schema::schema_json;
use crate::value::build::felt_of;

type Sink = mpsc::Sender<Result<SubscribeEntityResponse, Status>>;

#[derive(Default)]
struct State {
    world: Vec<u8>,
    models: Vec<types::Model>,
    entities: BTreeMap<[u8; 32], BTreeMap<String, types::Struct>>,
    subscribers: Vec<(Vec<String>, Sink)>,
    down: bool,
    /// Applied (and pushed) right after the next `RetrieveEntities` page is read, as if they
    /// happened on chain while a client pages.
    during_retrieve: Vec<types::Struct>,
    during_retrieve_ids: Vec<[u8; 32]>,
    /// One-member updates applied after the next page, moving their entity ahead of the
    /// paging cursor as Torii's newest-first paging does.
    member_during_retrieve: Vec<([u8; 32], String, types::Member)>,
    /// Entities moved ahead of the cursor in the current paging run.
    moved: std::collections::BTreeSet<[u8; 32]>,
    /// `Worlds` answers with no model (as a restarting Torii might).
    hide_models: bool,
    subscribes: usize,
    retrieve_pages: usize,
    /// A block clock: each change runs one "second" after the previous, and an entity
    /// carries the time of its last change as `executed_at`, as Torii reports it.
    clock: u64,
    executed_at: std::collections::HashMap<[u8; 32], u64>,
}

impl State {
    /// Advances the clock for a change of `id`.
    fn tick(&mut self, id: [u8; 32]) {
        self.clock += 1;
        self.executed_at.insert(id, 1_700_000_000 + self.clock);
    }

    fn executed_at(&self, id: &[u8; 32]) -> u64 {
        self.executed_at.get(id).copied().unwrap_or(1_700_000_000)
    }
}

/// Counters of what clients did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub subscribes: usize,
    pub retrieve_pages: usize,
}

#[derive(Clone)]
struct Service(Arc<Mutex<State>>);

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn models_of(clause: Option<&types::Clause>) -> Vec<String> {
    match clause.and_then(|c| c.clause_type.as_ref()) {
        Some(types::clause::ClauseType::Keys(k)) => k.models.clone(),
        _ => Vec::new(),
    }
}

#[tonic::async_trait]
impl World for Service {
    type SubscribeEntitiesStream = ReceiverStream<Result<SubscribeEntityResponse, Status>>;

    async fn subscribe_entities(
        &self,
        request: Request<SubscribeEntitiesRequest>,
    ) -> Result<Response<Self::SubscribeEntitiesStream>, Status> {
        let mut st = lock(&self.0);
        if st.down {
            return Err(Status::unavailable("restarting"));
        }
        let models = models_of(request.get_ref().clause.as_ref());
        // Torii's per-subscriber buffer.
        let (tx, rx) = mpsc::channel(16_384);
        let first = SubscribeEntityResponse {
            entity: None,
            subscription_id: rand::random(),
        };
        tx.try_send(Ok(first))
            .map_err(|_| Status::internal("buffer"))?;
        st.subscribers.push((models, tx));
        st.subscribes += 1;
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn retrieve_entities(
        &self,
        request: Request<RetrieveEntitiesRequest>,
    ) -> Result<Response<RetrieveEntitiesResponse>, Status> {
        let mut st = lock(&self.0);
        if st.down {
            return Err(Status::unavailable("restarting"));
        }
        st.retrieve_pages += 1;
        let query = request.into_inner().query.unwrap_or_default();
        let mut wanted = query.models.clone();
        wanted.extend(models_of(query.clause.as_ref()));
        let only: Option<Vec<Vec<u8>>> =
            match query.clause.as_ref().and_then(|c| c.clause_type.as_ref()) {
                Some(types::clause::ClauseType::HashedKeys(h)) => Some(h.hashed_keys.clone()),
                _ => None,
            };
        let pagination = query.pagination.unwrap_or_default();
        if pagination.cursor.is_empty() && only.is_none() {
            st.moved.clear();
        }
        let start: usize = if pagination.cursor.is_empty() {
            0
        } else {
            pagination
                .cursor
                .parse()
                .map_err(|_| Status::invalid_argument("bad cursor"))?
        };
        let limit = if pagination.limit == 0 {
            10_000
        } else {
            pagination.limit as usize
        };
        let matching: Vec<Entity> = st
            .entities
            .iter()
            .filter(|(id, _)| match &only {
                Some(ids) => ids.iter().any(|i| i.as_slice() == id.as_slice()),
                None => !st.moved.contains(*id),
            })
            .filter_map(|(id, models)| {
                let models: Vec<types::Struct> = models
                    .values()
                    .filter(|m| wanted.is_empty() || wanted.contains(&m.name))
                    .cloned()
                    .collect();
                (!models.is_empty()).then(|| Entity {
                    hashed_keys: id.to_vec(),
                    models,
                    world_address: st.world.clone(),
                    executed_at: st.executed_at(id),
                    updated_at: st.executed_at(id),
                    ..Default::default()
                })
            })
            .collect();
        let page: Vec<Entity> = matching.iter().skip(start).take(limit).cloned().collect();
        let next = start + page.len();
        let ids = std::mem::take(&mut st.during_retrieve_ids);
        let records = std::mem::take(&mut st.during_retrieve);
        let queued: Vec<_> = ids.into_iter().zip(records).collect();
        for (id, record) in queued {
            FakeTorii::merge(&mut st, id, &record);
            FakeTorii::push(&mut st, id, record);
        }
        if only.is_none() {
            for (id, tag, member) in std::mem::take(&mut st.member_during_retrieve) {
                let partial = types::Struct {
                    name: tag,
                    children: vec![member],
                };
                FakeTorii::merge(&mut st, id, &partial);
                FakeTorii::push(&mut st, id, partial);
                st.moved.insert(id);
            }
        }
        Ok(Response::new(RetrieveEntitiesResponse {
            next_cursor: if next < matching.len() {
                next.to_string()
            } else {
                String::new()
            },
            entities: page,
        }))
    }

    async fn worlds(
        &self,
        _request: Request<WorldsRequest>,
    ) -> Result<Response<WorldsResponse>, Status> {
        let st = lock(&self.0);
        if st.down {
            return Err(Status::unavailable("restarting"));
        }
        let models = if st.hide_models {
            Vec::new()
        } else {
            st.models.clone()
        };
        Ok(Response::new(WorldsResponse {
            worlds: vec![types::World {
                world_address: format!("0x{}", realtime_core::address::hex_digits(&st.world)),
                models,
            }],
        }))
    }
}

/// A running fake Torii.
pub struct FakeTorii {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    stop: CancellationToken,
}

impl std::fmt::Debug for FakeTorii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTorii")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeTorii {
    /// Starts a fake Torii for `world` on 127.0.0.1 (port `port`, 0 for any).
    pub async fn start(world: Address, port: u16) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            world: world.to_bytes().to_vec(),
            ..State::default()
        }));
        Self::serve(state, port).await
    }

    async fn serve(state: Arc<Mutex<State>>, port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let service = WorldServer::new(Service(state.clone()));
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    TcpListenerStream::new(listener),
                    until.cancelled_owned(),
                )
                .await;
        });
        Ok(Self { state, addr, stop })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Registers a model, its schema taken from an example record.
    pub fn add_model(&self, example: &types::Struct) {
        let (namespace, name) = example.name.split_once('-').unwrap_or(("", &example.name));
        let model = types::Model {
            namespace: namespace.into(),
            name: name.into(),
            schema: serde_json::to_vec(&schema_json(example)).unwrap_or_default(),
            ..Default::default()
        };
        lock(&self.state).models.push(model);
    }

    fn push(st: &mut State, id: [u8; 32], model: types::Struct) {
        let entity = Entity {
            hashed_keys: id.to_vec(),
            models: vec![model.clone()],
            world_address: st.world.clone(),
            executed_at: st.executed_at(&id),
            updated_at: st.executed_at(&id),
            ..Default::default()
        };
        st.subscribers.retain(|(models, tx)| {
            if !models.is_empty() && !models.contains(&model.name) {
                return true;
            }
            let msg = SubscribeEntityResponse {
                entity: Some(entity.clone()),
                subscription_id: 0,
            };
            // A subscriber whose buffer is full is dropped, as Torii does.
            tx.try_send(Ok(msg)).is_ok()
        });
    }

    fn merge(st: &mut State, id: [u8; 32], model: &types::Struct) {
        st.tick(id);
        let stored = st
            .entities
            .entry(id)
            .or_default()
            .entry(model.name.clone())
            .or_insert_with(|| types::Struct {
                name: model.name.clone(),
                children: Vec::new(),
            });
        for m in &model.children {
            match stored.children.iter_mut().find(|c| c.name == m.name) {
                Some(c) => *c = m.clone(),
                None => stored.children.push(m.clone()),
            }
        }
    }

    /// Sets a whole record (as a model's `set`), pushing it whole.
    pub fn set(&self, id: u64, record: types::Struct) {
        let mut st = lock(&self.state);
        let id = felt_of(id);
        Self::merge(&mut st, id, &record);
        Self::push(&mut st, id, record);
    }

    /// Updates a record's non-key members, pushing the record without its keys.
    pub fn set_without_keys(&self, id: u64, record: types::Struct) {
        let mut st = lock(&self.state);
        let id = felt_of(id);
        let partial = types::Struct {
            name: record.name.clone(),
            children: record.children.into_iter().filter(|m| !m.key).collect(),
        };
        Self::merge(&mut st, id, &partial);
        Self::push(&mut st, id, partial);
    }

    /// Updates one member, pushing only that member.
    pub fn set_member(&self, id: u64, tag: &str, member: types::Member) {
        let mut st = lock(&self.state);
        let id = felt_of(id);
        let partial = types::Struct {
            name: tag.into(),
            children: vec![member],
        };
        Self::merge(&mut st, id, &partial);
        Self::push(&mut st, id, partial);
    }

    /// Deletes a record, pushing the model with no children.
    pub fn delete(&self, id: u64, tag: &str) {
        let mut st = lock(&self.state);
        let id = felt_of(id);
        st.tick(id);
        if let Some(models) = st.entities.get_mut(&id) {
            models.remove(tag);
            if models.is_empty() {
                st.entities.remove(&id);
            }
        }
        Self::push(
            &mut st,
            id,
            types::Struct {
                name: tag.into(),
                children: Vec::new(),
            },
        );
    }

    /// Sets a record just after the next `RetrieveEntities` page is computed.
    pub fn set_during_next_retrieve(&self, id: u64, record: types::Struct) {
        let mut st = lock(&self.state);
        st.during_retrieve_ids.push(felt_of(id));
        st.during_retrieve.push(record);
    }

    /// Updates one member just after the next page is read, and moves the entity ahead of
    /// the cursor so the remaining pages skip it (Torii pages newest first).
    pub fn set_member_during_next_retrieve(&self, id: u64, tag: &str, member: types::Member) {
        lock(&self.state)
            .member_during_retrieve
            .push((felt_of(id), tag.into(), member));
    }

    /// Makes `Worlds` answer with no model, or with the registered ones again.
    pub fn hide_models(&self, hide: bool) {
        lock(&self.state).hide_models = hide;
    }

    /// Changes state without telling subscribers (as if it happened while they were away).
    pub fn set_silently(&self, id: u64, record: types::Struct) {
        Self::merge(&mut lock(&self.state), felt_of(id), &record);
    }

    /// Deletes without telling subscribers.
    pub fn delete_silently(&self, id: u64, tag: &str) {
        let mut st = lock(&self.state);
        st.tick(felt_of(id));
        if let Some(models) = st.entities.get_mut(&felt_of(id)) {
            models.remove(tag);
        }
    }

    /// Ends every open stream with an error, as when Torii drops a subscriber.
    pub fn drop_streams(&self) {
        let mut st = lock(&self.state);
        for (_, tx) in st.subscribers.drain(..) {
            let _ = tx.try_send(Err(Status::unavailable("stream dropped")));
        }
    }

    /// While down, every call fails with `unavailable` and open streams end.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
        if down {
            self.drop_streams();
        }
    }

    /// Open streams.
    pub fn subscribers(&self) -> usize {
        let mut st = lock(&self.state);
        st.subscribers.retain(|(_, tx)| !tx.is_closed());
        st.subscribers.len()
    }

    pub fn calls(&self) -> Calls {
        let st = lock(&self.state);
        Calls {
            subscribes: st.subscribes,
            retrieve_pages: st.retrieve_pages,
        }
    }
}

impl Drop for FakeTorii {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
