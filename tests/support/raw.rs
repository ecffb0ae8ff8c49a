//! Raw WebSocket connections, for tests that must control reading (slow consumers, silent
//! peers) or send what the client library would not.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type RawSocket = WebSocketStream<TcpStream>;

/// Connects to `url` (`ws://addr/v1/ws?token=…`) with a small kernel receive buffer, so
/// that not reading fills the path quickly.
pub async fn connect_small_buffer(addr: std::net::SocketAddr, url: &str) -> RawSocket {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        url,
        stream,
        Some(WebSocketConfig::default().max_message_size(Some(64 << 20))),
    )
    .await
    .expect("handshake");
    ws
}

/// Sends a text frame.
pub async fn send(ws: &mut RawSocket, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// Reads until the close frame; returns its code and how many text frames came first.
pub async fn read_to_close(ws: &mut RawSocket, timeout: Duration) -> (Option<u16>, usize) {
    let mut texts = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the server closes in time");
        match next {
            Some(Ok(Message::Text(_))) => texts += 1,
            Some(Ok(Message::Close(frame))) => return (frame.map(|f| f.code.into()), texts),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (None, texts),
        }
    }
}

/// A WebSocket upgrade from a chosen local address (any of 127.0.0.0/8 on Linux, so tests can
/// be several client hosts) with extra request headers. Returns the socket, or the HTTP status
/// the server refused with.
pub async fn upgrade_from(
    source: std::net::IpAddr,
    server: std::net::SocketAddr,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<RawSocket, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
    let socket = match source {
        std::net::IpAddr::V4(_) => TcpSocket::new_v4(),
        std::net::IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .expect("socket");
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .expect("bind the source address");
    let stream = socket.connect(server).await.expect("connect");
    let mut request = url.into_client_request().expect("request");
    for (k, v) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}
