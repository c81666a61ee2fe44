//! Scripted SMTP peers in memory, for the dispatcher's tests: each dial
//! takes the next script, and the peer plays it on one end of a duplex pipe.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

use super::connect::Dial;
use crate::net::smtp::{Io, SessionError};
use Step::*;

/// One step of a peer's part.
#[derive(Clone, Copy)]
pub enum Step {
    /// Write this line (CRLF added).
    Say(&'static str),
    /// Read a line; it must start with this (case-insensitively).
    Hear(&'static str),
    /// Read the message up to and including the final dot.
    Message,
    /// Read this many bytes of the message, then hang up.
    HangUpAfter(usize),
    /// Hang up.
    HangUp,
}

/// Greeting and EHLO, with PIPELINING or without.
pub fn hello(pipelining: bool) -> Vec<Step> {
    let mut s = vec![Say("220 mx.peer.test ESMTP"), Hear("EHLO")];
    match pipelining {
        true => s.extend([Say("250-mx.peer.test"), Say("250 PIPELINING")]),
        false => s.push(Say("250 mx.peer.test")),
    }
    s
}

async fn play(io: DuplexStream, script: Vec<Step>) {
    let mut io = BufReader::new(io);
    let mut line = String::new();
    for step in script {
        match step {
            Say(text) => {
                let bytes = format!("{text}\r\n");
                if io.get_mut().write_all(bytes.as_bytes()).await.is_err() {
                    return;
                }
            }
            Hear(prefix) => {
                line.clear();
                io.read_line(&mut line).await.unwrap();
                assert!(
                    line.to_ascii_uppercase()
                        .starts_with(&prefix.to_ascii_uppercase()),
                    "the peer expected {prefix:?}, heard {line:?}"
                );
            }
            Message => loop {
                line.clear();
                if io.read_line(&mut line).await.unwrap() == 0 || line == ".\r\n" {
                    break;
                }
            },
            HangUpAfter(n) => {
                let mut buf = vec![0; n];
                let _ = tokio::io::AsyncReadExt::read_exact(&mut io, &mut buf).await;
                return;
            }
            HangUp => return,
        }
    }
    // The script is over: the connection stays open until the client goes.
    let mut rest = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut io, &mut rest).await;
}

/// Peers in the order they are dialled; a dial with none left is refused.
#[derive(Clone, Default)]
pub struct Peers {
    scripts: Arc<Mutex<VecDeque<Vec<Step>>>>,
    playing: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Peers {
    pub fn new(scripts: Vec<Vec<Step>>) -> Peers {
        Peers {
            scripts: Arc::new(Mutex::new(scripts.into())),
            ..Default::default()
        }
    }

    pub fn dial(&self) -> Dial {
        let me = self.clone();
        Arc::new(move |addr: SocketAddr, _| {
            let script = me.scripts.lock().unwrap().pop_front();
            let playing = me.playing.clone();
            Box::pin(async move {
                let Some(script) = script else {
                    return Err(SessionError::Connect {
                        addr,
                        source: std::io::ErrorKind::ConnectionRefused.into(),
                    });
                };
                let (ours, theirs) = tokio::io::duplex(1 << 16);
                playing
                    .lock()
                    .unwrap()
                    .push(tokio::spawn(play(theirs, script)));
                Ok(Box::new(ours) as Box<dyn Io>)
            })
        })
    }

    /// Every peer played its part (a failed expectation panics here).
    pub async fn check(&self) {
        let playing: Vec<_> = std::mem::take(&mut *self.playing.lock().unwrap());
        for p in playing {
            if p.is_finished() {
                p.await.unwrap();
            } else {
                p.abort();
            }
        }
        assert!(
            self.scripts.lock().unwrap().is_empty(),
            "a peer was never dialled"
        );
    }
}
