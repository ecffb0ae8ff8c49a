//! `torii-realtime healthcheck`: asks a running server's `/readyz` whether it can serve, and
//! answers with the exit status (0 ready, 1 not), so that a container health check needs no
//! HTTP client in the image (the runtime image has none).
//!
//! It speaks just enough HTTP/1.1 for a loopback probe, with the standard library: one
//! `GET`, `Connection: close`, the status line and the body. No TLS: the probe runs beside
//! the server, never through the proxy. Without `--url` the address comes from the same
//! configuration the server reads (`server.listen`, with a wildcard address probed on
//! loopback), so the port is written in one place.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Most of an answer read: `/readyz` answers a few hundred bytes.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Why the probe says no; printed as `error: …`, exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("--url {0:?}: {1}")]
    Url(String, String),
    #[error("--timeout: {0}")]
    Timeout(String),
    #[error("server.listen is {0}: no port to probe; pass --url http://HOST:PORT/readyz instead")]
    NoPort(SocketAddr),
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} is not ready: HTTP {status}{detail}")]
    NotReady {
        url: String,
        status: u16,
        detail: String,
    },
}

/// Probes `url`, or `/readyz` on the configured listener when `url` is `None`; prints what it
/// saw when the server is ready.
pub fn run(
    url: Option<String>,
    timeout: &str,
    config: Option<&Path>,
) -> Result<(), super::CommandError> {
    let timeout =
        realtime_core::duration::parse(timeout).map_err(|e| ProbeError::Timeout(e.to_string()))?;
    let url = match url {
        Some(url) => url,
        None => {
            let loaded = crate::config::Config::load(config)?;
            default_url(loaded.config.server.listen)?
        }
    };
    let answer = probe(&url, timeout)?;
    println!("{url}: ready{}", detail(&answer.body));
    Ok(())
}

/// `/readyz` on the address the server listens on; a wildcard address is probed on loopback
/// of the same family.
fn default_url(listen: SocketAddr) -> Result<String, ProbeError> {
    if listen.port() == 0 {
        return Err(ProbeError::NoPort(listen));
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(format!(
        "http://{}/readyz",
        SocketAddr::new(ip, listen.port())
    ))
}

struct Answer {
    status: u16,
    body: String,
}

/// One `GET`, the whole exchange bounded by `timeout`. Anything but a 200 is an error.
fn probe(url: &str, timeout: Duration) -> Result<Answer, ProbeError> {
    let parsed = url::Url::parse(url).map_err(|e| ProbeError::Url(url.into(), e.to_string()))?;
    if parsed.scheme() != "http" {
        return Err(ProbeError::Url(
            url.into(),
            "only http:// is probed (the probe runs beside the server, without TLS)".into(),
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| ProbeError::Url(url.into(), "no host".into()))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let unreachable = |reason: String| ProbeError::Unreachable {
        url: url.into(),
        reason,
    };
    // `host_str` keeps an IPv6 address in brackets, which the resolver does not take.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .collect();
    let deadline = Instant::now() + timeout;
    let timed_out = || {
        format!(
            "no answer within {}",
            realtime_core::duration::format(timeout)
        )
    };
    let mut last = String::from("no address");
    for addr in addrs {
        if Instant::now() >= deadline {
            last = timed_out();
            break;
        }
        match exchange(addr, host, &parsed, deadline) {
            Ok(answer) if answer.status == 200 => return Ok(answer),
            Ok(answer) => {
                return Err(ProbeError::NotReady {
                    url: url.into(),
                    status: answer.status,
                    detail: detail(&answer.body),
                });
            }
            // A read timeout is EAGAIN on Linux: say what it means.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                last = timed_out();
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}

fn exchange(
    addr: SocketAddr,
    host: &str,
    url: &url::Url,
    deadline: Instant,
) -> std::io::Result<Answer> {
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(std::io::Error::new(ErrorKind::TimedOut, "timed out"))
        } else {
            Ok(d)
        }
    };
    let mut stream = TcpStream::connect_timeout(&addr, left()?)?;
    stream.set_write_timeout(Some(left()?))?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let host_header = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: torii-realtime-healthcheck\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    let mut reader = (&mut stream).take(MAX_ANSWER_BYTES);
    let mut buf = [0u8; 4096];
    // Read until the server closes (Connection: close), re-arming the read timeout with what
    // is left of the deadline so a server that trickles cannot hold the probe.
    loop {
        reader.get_mut().set_read_timeout(Some(left()?))?;
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    parse_answer(&raw)
}

/// The status code and body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &[u8]) -> std::io::Result<Answer> {
    let text = String::from_utf8_lossy(raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer");
    let status_line = text.lines().next().ok_or_else(bad)?;
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(bad());
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_owned())
        .unwrap_or_default();
    Ok(Answer { status, body })
}

/// What the answer says beyond its status: the `reason` of a 503, what is `degraded` in a
/// 200, or the body itself when it is not the server's JSON.
fn detail(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let mut out = String::new();
            if let Some(reason) = v["reason"].as_str() {
                out.push_str(&format!(": {reason}"));
            }
            if let Some(torii) = v["torii"].as_str() {
                out.push_str(&format!(" (torii: {torii})"));
            }
            if let Some(degraded) = v["degraded"].as_str() {
                out.push_str(&format!(" (degraded: {degraded})"));
            }
            out
        }
        Err(_) if body.is_empty() => String::new(),
        Err(_) => format!(": {}", body.chars().take(200).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_probed_on_loopback() {
        let url = |s: &str| default_url(s.parse().unwrap());
        assert_eq!(
            url("0.0.0.0:8090").ok(),
            Some("http://127.0.0.1:8090/readyz".into())
        );
        assert_eq!(
            url("[::]:8090").ok(),
            Some("http://[::1]:8090/readyz".into())
        );
        assert_eq!(
            url("10.1.2.3:9000").ok(),
            Some("http://10.1.2.3:9000/readyz".into())
        );
        assert!(matches!(url("127.0.0.1:0"), Err(ProbeError::NoPort(_))));
    }

    #[test]
    fn answers_are_read_for_their_status_and_reason() {
        let a = parse_answer(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n\
              {\"status\":\"not_ready\",\"reason\":\"shutting down\"}",
        )
        .unwrap();
        assert_eq!(a.status, 503);
        assert_eq!(detail(&a.body), ": shutting down");
        let ok =
            parse_answer(b"HTTP/1.1 200 OK\r\n\r\n{\"degraded\":\"bus disconnected\"}").unwrap();
        assert_eq!(
            (ok.status, detail(&ok.body)),
            (200, " (degraded: bus disconnected)".into())
        );
        assert!(parse_answer(b"SSH-2.0-OpenSSH\r\n").is_err());
    }

    /// A server that accepts but never answers (hung, or stopped in a debugger) fails the
    /// probe within its timeout instead of holding it until the orchestrator kills it.
    #[test]
    fn a_silent_server_fails_within_the_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/readyz", listener.local_addr().unwrap());
        let started = Instant::now();
        let err = probe(&url, Duration::from_millis(300)).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("no answer within 300ms"), "{err}");
    }
}
