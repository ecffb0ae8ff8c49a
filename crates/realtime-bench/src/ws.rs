//! A minimal WebSocket client for load generation. A full client library parses, validates and
//! copies every frame; at a million deliveries a second on a shared 2-core machine that cost
//! would be charged to the generator and starve the server under test. This one reads frames
//! in place from one growing buffer and writes text frames with a zero mask (valid per RFC
//! 6455 §5.3, and free to apply). It trusts the server: it is a benchmark, not a client.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;

/// Opens a WebSocket at `path`, with an `Authorization: Bearer` header when a token is given.
pub async fn connect(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
) -> io::Result<(Reader, Writer)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = vec![0u8; 1024];
    let mut len = 0;
    let head_end = loop {
        if len == buf.len() {
            return Err(io::Error::other("upgrade response headers too long"));
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during the upgrade",
            ));
        }
        len += n;
        if let Some(i) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        let head = String::from_utf8_lossy(&buf[..head_end]);
        return Err(io::Error::other(format!(
            "upgrade refused: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    buf.copy_within(head_end..len, 0);
    let (read, write) = stream.into_split();
    Ok((
        Reader {
            half: read,
            buf,
            start: 0,
            end: len - head_end,
        },
        Writer {
            half: write,
            frame: Vec::new(),
        },
    ))
}

/// The reading half: frames are returned as ranges into its buffer, valid until the next read.
#[derive(Debug)]
pub struct Reader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// A frame header: opcode, header length, payload length.
fn header(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let opcode = b[0] & 0x0f;
    let masked = b[1] & 0x80 != 0;
    let (mut at, len) = match b[1] & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            usize::try_from(u64::from_be_bytes(b.get(2..10)?.try_into().ok()?)).ok()?,
        ),
        n => (2, n as usize),
    };
    if masked {
        at += 4;
    }
    (b.len() >= at).then_some((opcode, at, len))
}

impl Reader {
    /// The next frame: its opcode and where its payload lies (see [`Reader::payload`]).
    pub async fn next(&mut self) -> io::Result<(u8, Range<usize>)> {
        loop {
            if let Some((opcode, at, len)) = header(&self.buf[self.start..self.end])
                && self.end - self.start >= at + len
            {
                let payload = self.start + at..self.start + at + len;
                self.start = payload.end;
                return Ok((opcode, payload));
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let grown = (self.buf.len() * 2).max(4096);
                self.buf.resize(grown, 0);
            }
            let n = self.half.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.end += n;
        }
    }

    pub fn payload(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Reads until a text frame for which `pick` returns a value, skipping others.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(&[u8]) -> Option<T>) -> io::Result<T> {
        loop {
            let (opcode, range) = self.next().await?;
            match opcode {
                OP_TEXT => {
                    if let Some(v) = pick(self.payload(range)) {
                        return Ok(v);
                    }
                }
                OP_CLOSE => {
                    let payload = self.payload(range);
                    let code = payload
                        .get(..2)
                        .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                    return Err(io::Error::other(format!(
                        "closed by the server: {code} {reason}"
                    )));
                }
                _ => {}
            }
        }
    }
}

/// The writing half.
#[derive(Debug)]
pub struct Writer {
    half: OwnedWriteHalf,
    frame: Vec<u8>,
}

impl Writer {
    /// Sends one text frame.
    pub async fn text(&mut self, payload: &[u8]) -> io::Result<()> {
        self.frame.clear();
        self.frame.push(0x81);
        match payload.len() {
            n if n < 126 => self.frame.push(0x80 | n as u8),
            n if n <= u16::MAX as usize => {
                self.frame.push(0x80 | 126);
                self.frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.frame.push(0x80 | 127);
                self.frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        self.frame.extend_from_slice(&[0, 0, 0, 0]);
        self.frame.extend_from_slice(payload);
        self.half.write_all(&self.frame).await
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The unsigned integer right after `key` in `hay` (e.g. `"seq":`).
pub fn number_after(hay: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(hay, key)? + key.len();
    let digits = hay[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&hay[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_each_length_form() {
        assert_eq!(header(&[0x81, 5]), Some((1, 2, 5)));
        assert_eq!(header(&[0x81, 126, 1, 0]), Some((1, 4, 256)));
        assert_eq!(header(&[0x81, 126, 1]), None);
        let mut long = vec![0x82, 127];
        long.extend_from_slice(&70_000u64.to_be_bytes());
        assert_eq!(header(&long), Some((2, 10, 70_000)));
        assert_eq!(header(&[0x89, 0x80, 0, 0, 0, 0]), Some((9, 6, 0)));
    }

    #[test]
    fn numbers_are_read_after_their_key() {
        let frame = br#"{"push":"message","channel":"room-1","seq":42,"data":{}}"#;
        assert_eq!(number_after(frame, br#""seq":"#), Some(42));
        assert_eq!(number_after(frame, br#""id":"#), None);
    }
}
