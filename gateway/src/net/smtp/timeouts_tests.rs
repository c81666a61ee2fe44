//! The session against a scripted peer on loopback: each phase is bounded
//! by its own timeout, and the error names what it waited for.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

fn short() -> Timeouts {
    let s = Duration::from_millis(300);
    Timeouts {
        connect: s,
        greeting: s,
        ehlo: s,
        starttls: s,
        mail: s,
        rcpt: s,
        data: s,
        transfer: s,
        final_dot: s,
    }
}

/// A peer that greets, answers EHLO (with PIPELINING), then runs `rest`.
async fn peer<F, Fut>(rest: F) -> SocketAddr
where
    F: FnOnce(BufReader<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let mut s = BufReader::new(s);
        s.get_mut().write_all(b"220 peer ready\r\n").await.unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        s.get_mut()
            .write_all(b"250-peer\r\n250 PIPELINING\r\n")
            .await
            .unwrap();
        rest(s).await;
    });
    addr
}

#[tokio::test]
async fn a_silent_greeting_times_out_naming_it() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let _s = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let start = Instant::now();
    let e = Session::connect(addr, short()).await.err().unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(e.to_string(), "timed out waiting for the greeting");
    hold.abort();
}

#[tokio::test]
async fn a_silent_rcpt_times_out_naming_the_command() {
    let addr = peer(|mut s| async move {
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap(); // MAIL
        s.get_mut().write_all(b"250 ok\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let (mut s, _) = Session::connect(addr, short()).await.unwrap();
    s.ehlo("client.test").await.unwrap();
    let e = s
        .pipelined_envelope("a@x.test", 10, false, &["b@y.test"])
        .await
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "timed out waiting for a RCPT TO reply");
    assert!(!s.reusable(), "a session that timed out is never reused");
}

#[tokio::test]
async fn a_server_that_stops_reading_the_message_is_cut_off() {
    let addr = peer(|mut s| async move {
        let mut line = String::new();
        for _ in 0..3 {
            line.clear();
            s.read_line(&mut line).await.unwrap(); // MAIL, RCPT, DATA
        }
        s.get_mut()
            .write_all(b"250 ok\r\n250 ok\r\n354 go\r\n")
            .await
            .unwrap();
        // Reads nothing more.
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let (mut s, _) = Session::connect(addr, short()).await.unwrap();
    s.ehlo("client.test").await.unwrap();
    let env = s
        .pipelined_envelope("a@x.test", 10, false, &["b@y.test"])
        .await
        .unwrap();
    assert_eq!(env.data.code, 354);
    // Far more than the socket buffers hold, so writes block.
    let big = vec![b'x'; 64 << 20];
    let start = Instant::now();
    let e = s.content(&[&big]).await.err().unwrap();
    assert!(matches!(e, SessionError::WriteTimeout(_)), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_reply_that_is_not_smtp_is_named_in_words() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let e = Session::connect(addr, short()).await.err().unwrap();
    assert_eq!(
        e.to_string(),
        "the server spoke something other than SMTP: invalid response code in the reply (the greeting)"
    );
}
