//! What an entry of [`super::routes::ROUTES`] says of a route, and the `const` methods that
//! build one, so an entry reads as one chain: `Route::get(path, id).summary(…).token()…`.

use realtime_core::ErrorCode;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// How an entry names a schema: called once per use while the document is built.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, named in `components.schemas` and referred to by `$ref`.
pub fn named<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The schema of `T` itself, for a query struct: each of its fields becomes a parameter.
pub fn inline<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    T::json_schema(generator)
}

/// An HTTP method the router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// Every method a route may have, for the tests that probe the router.
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    /// The key of an operation in a path item.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone, without a token.
    Public,
    /// A session token, `Authorization: Bearer <token>`.
    Token,
    /// Anyone; with a token, the answer is the address's (a token that does not verify is
    /// still refused).
    OptionalToken,
}

/// What a route answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// A 200 with a JSON body.
    Json(SchemaFn),
    /// A 200 with a file of this media type.
    File(&'static str),
    /// A 101: the connection becomes a WebSocket.
    Upgrade,
}

/// An answer other than the success and the error body, such as the 503 of `/readyz`.
#[derive(Debug, Clone, Copy)]
pub struct Also {
    pub status: u16,
    pub description: &'static str,
    pub schema: SchemaFn,
}

/// One (method, path) of the router and what the document says of it. Built with the
/// `const` methods below, so the table reads as one chain per route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: Method,
    /// As given to `Router::route`, with `{name}` for a path parameter.
    pub path: &'static str,
    /// The `operationId`; the WebSocket op's name where the route does the same.
    pub id: &'static str,
    pub summary: &'static str,
    pub about: &'static str,
    pub tag: &'static str,
    pub auth: Auth,
    /// A struct whose fields are the query parameters (see [`inline`]).
    pub query: Option<SchemaFn>,
    /// The JSON body.
    pub body: Option<SchemaFn>,
    pub reply: Option<Reply>,
    pub also: &'static [Also],
    /// The codes the handler can answer with; the 401 codes of a token are added.
    pub errors: &'static [ErrorCode],
}

impl Route {
    const fn new(method: Method, path: &'static str, id: &'static str) -> Self {
        Self {
            method,
            path,
            id,
            summary: "",
            about: "",
            tag: "",
            auth: Auth::Public,
            query: None,
            body: None,
            reply: None,
            also: &[],
            errors: &[],
        }
    }

    pub const fn get(path: &'static str, id: &'static str) -> Self {
        Self::new(Method::Get, path, id)
    }

    pub const fn post(path: &'static str, id: &'static str) -> Self {
        Self::new(Method::Post, path, id)
    }

    pub const fn put(path: &'static str, id: &'static str) -> Self {
        Self::new(Method::Put, path, id)
    }

    pub const fn patch(path: &'static str, id: &'static str) -> Self {
        Self::new(Method::Patch, path, id)
    }

    pub const fn delete(path: &'static str, id: &'static str) -> Self {
        Self::new(Method::Delete, path, id)
    }

    pub const fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }

    pub const fn about(mut self, about: &'static str) -> Self {
        self.about = about;
        self
    }

    pub const fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    pub const fn token(mut self) -> Self {
        self.auth = Auth::Token;
        self
    }

    pub const fn optional_token(mut self) -> Self {
        self.auth = Auth::OptionalToken;
        self
    }

    pub const fn query(mut self, query: SchemaFn) -> Self {
        self.query = Some(query);
        self
    }

    pub const fn body(mut self, body: SchemaFn) -> Self {
        self.body = Some(body);
        self
    }

    pub const fn json(mut self, reply: SchemaFn) -> Self {
        self.reply = Some(Reply::Json(reply));
        self
    }

    pub const fn file(mut self, media_type: &'static str) -> Self {
        self.reply = Some(Reply::File(media_type));
        self
    }

    pub const fn upgrade(mut self) -> Self {
        self.reply = Some(Reply::Upgrade);
        self
    }

    pub const fn also(mut self, also: &'static [Also]) -> Self {
        self.also = also;
        self
    }

    pub const fn errors(mut self, errors: &'static [ErrorCode]) -> Self {
        self.errors = errors;
        self
    }

    /// The error codes the route can answer: its own, and a token's.
    pub fn error_codes(&self) -> Vec<ErrorCode> {
        // A token at the WebSocket upgrade is checked after the handshake, and refused with
        // a close code rather than a 401.
        let token = self.auth != Auth::Public && !matches!(self.reply, Some(Reply::Upgrade));
        ErrorCode::ALL
            .into_iter()
            .filter(|c| {
                self.errors.contains(c)
                    || (token && matches!(c, ErrorCode::Unauthorized | ErrorCode::TokenExpired))
            })
            .collect()
    }
}
