//! The usual delivery setup: a recipient domain `dest.test` whose MX
//! (`mx.dest.test`, 127.0.0.1) is a sink, served by a real DNS server, and
//! an envoi that resolves through it and delivers there.

use std::net::Ipv4Addr;

use crate::dns::TestDns;
use crate::sink::{Script, Sink};
use crate::{Envoi, Options};

pub struct Delivering {
    pub e: Envoi,
    pub sink: Sink,
    pub dns: TestDns,
}

impl Delivering {
    /// `delivery`: more `[delivery]` keys; `opts.extra_config` goes after
    /// that table.
    pub fn start(script: Script, delivery: &str, mut opts: Options) -> Delivering {
        let sink = Sink::start(script);
        let dns = TestDns::start();
        dns.mx("dest.test", 10, "mx.dest.test");
        dns.a("mx.dest.test", Ipv4Addr::LOCALHOST);
        opts.extra_config = format!(
            "[delivery]\nport = {}\n{}\nhelo_name = \"envoi.test\"\n{delivery}\n{}",
            sink.addr.port(),
            dns.config_line(),
            opts.extra_config
        );
        let e = Envoi::start_with(opts);
        Delivering { e, sink, dns }
    }
}
